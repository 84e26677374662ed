"""Follow-up questions ("and for contractors?"): telling one apart, the prompt that asks
the model to make it stand alone, and whether the model's rewrite can be trusted. The
assistant (rag.answering.assistant) decides when to call the model."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.answering.prompting import render
from rag.llm.base import Message
from rag.text.lexical import content_word_stems, text_stems


def plausible_rewrite(rewritten: str, question: str, history: Sequence[Message]) -> bool:
    """A rewrite keeps every content word of the follow-up, brings in at least one from
    the conversation (else it does not stand alone), is question-sized, and is not an
    earlier answer said again."""
    needed = content_word_stems(question)
    found = text_stems(rewritten)
    own = {stem for stems in needed for stem in stems}
    from_history = text_stems(" ".join(m["content"] for m in history)) - own
    brought_in = [
        stems
        for stems in content_word_stems(rewritten)
        if own.isdisjoint(stems) and not from_history.isdisjoint(stems)
    ]
    answers = [m["content"].casefold() for m in history if m["role"] == "assistant"]
    return (
        bool(needed)
        and all(not found.isdisjoint(stems) for stems in needed)
        and bool(brought_in)
        and 3 <= len(rewritten.split()) <= 40
        and not any(rewritten.casefold().rstrip(".") in answer for answer in answers)
    )


_FOLLOW_UP_START = re.compile(
    r"^\s*[¿¡]?\s*(and|or|but|also|what about|how about|same|y|o|pero|también|"
    r"qué hay de|que hay de|y si|and if|in that case|en ese caso)\b",
    re.IGNORECASE,
)
_REFERRING = re.compile(
    r"\b(it|its|that|this|those|these|they|them|there|one|ones|"
    r"eso|esa|ese|esto|esta|este|ello|ellos|ellas|allí|ahí)\b",
    re.IGNORECASE,
)


def looks_like_follow_up(question: str) -> bool:
    """Short, starts like a continuation, or leans on a word that refers back."""
    words = re.findall(r"\w+", question)
    return (
        len(words) <= 5
        or bool(_FOLLOW_UP_START.search(question))
        or bool(_REFERRING.search(question))
    )


def rewrite_messages(question: str, history: Sequence[Message]) -> list[Message]:
    """A one-example prompt: the last exchange of the conversation and the follow-up."""
    recent = list(history)[-4:]
    conversation = "\n".join(
        f"{'User' if m['role'] == 'user' else 'Assistant'}: {_one_line(m['content'])}"
        for m in recent
    )
    return [
        {"role": "system", "content": render("rewrite_system.txt")},
        {"role": "user", "content": render("rewrite_example.txt")},
        {"role": "assistant", "content": render("rewrite_example_answer.txt")},
        {
            "role": "user",
            "content": render("rewrite_user.txt", conversation=conversation, question=question),
        },
    ]


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"
