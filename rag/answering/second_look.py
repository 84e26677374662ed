"""A second look at an answer the check cannot back: point at the sentence, then copy.

The claim check (rag.answering.verify) finds each answer sentence's numbers, dates, names
and codes in the sources. When one of them is in no source, the answer is not shown as
it was written: a wrong value with a citation is worse than "not found" (a worked
example's figures, copied into an answer, are the worst case). Nor is an answer that
only says the question back ("Who was count of Melfi?" "Count of Melfi [1]."), which
the check cannot catch because every word of it is in the sources.

Such an answer is made again, in two steps, from the sentences of the sources that hold
most of the question's words:
1. pointing: the model is shown those sentences, numbered, and the probabilities of its
   reply's first token say which one answers (one reading of a short prompt, no text
   written); a generator that cannot tell probabilities takes the best-covered one;
2. copying: the model answers from that sentence alone, with the usual answer prompt,
   whose system part is already read.

The new answer is checked the same way. If it still fails, the product says it could
not confirm an answer and shows the closest passages.

Measured on xquad-es (80 questions, seed 7) while building this: given only the one
sentence that holds the gold answer, the bundled model answers 0.725 correctly; given
the best-covered sentence, 0.575; given the focused evidence as usual, 0.61. So
pointing and copying is the repair for a failed answer, not the way every answer is
made.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache

from rag.answering.alignment import align_values
from rag.answering.answers import ClaimCheck, Source
from rag.answering.evidence import score_sentences, sentence_window
from rag.answering.prompting import (
    DECLINE,
    LANGUAGES,
    answer_messages,
    render,
    render_source,
    strip_delimiters,
)
from rag.answering.verify import CITATIONS, is_decline, quantities, verify_answer
from rag.llm.base import Generator, GeneratorError, Message
from rag.text.lexical import content_word_stems, text_stems

# Why an answer was not shown as written.
UNSUPPORTED = "unsupported"  # a number, date, name or code of it is in no source
RESTATED = "restated"  # it only says the question back
REALIGNED = "realigned"  # a table value was taken from the row the question means
# Said to a reader who saw the first answer streamed.
REASONS = {
    UNSUPPORTED: "a number, date, name or code of it is in no source",
    RESTATED: "it only says the question back",
    REALIGNED: "its value came from another row of the table than the one asked about",
}


def withdrawal_note(revision: str, checked: str) -> str:
    """What follows a streamed answer that the check replaced: why, and the new text."""
    return f"\n\n(The answer above is withdrawn: {REASONS[revision]}.)\n{checked}"


# Sentences the model may point at: the answer is in the best-covered sentence for 61
# of xquad-es's 80 sampled questions, in one of the best three for 74, four for 76.
CANDIDATES = 4


def why_second_look(
    text: str, claims: Sequence[ClaimCheck], question: str, sources: Sequence[Source]
) -> str:
    """The reason the answer `text` (checked as `claims` against `sources`) may not be
    shown as written, or "" when it may."""
    if is_decline(text):
        return ""
    missing = [fact for claim in claims for fact in claim.missing]
    asked: set[str] = set()
    stated: set = set()
    if missing:  # the sources' numbers are read only when the check missed something
        asked = text_stems(question)
        stated = set(quantities(" ".join(s.text for s in sources)))
    made_up = [fact for fact in missing if not _given(fact, asked, stated)]
    if made_up or repeats_example(text, sources):
        return UNSUPPORTED
    if restates(text, question):
        return RESTATED
    return ""


def _given(fact: str, asked: set[str], stated: set) -> bool:
    """Whether a fact the check did not find is still not made up. A value the question
    gives is the reader's: "San Diego-Carslbad" misspelt in the question and echoed in a
    right answer is no reason to withdraw it. A number the sources hold with another unit
    or none ("€79" for the cell "List price (EUR): 79") fails the check's unit, not its
    value; a wrong row's value is alignment's to fix."""
    words, values = text_stems(fact), set(quantities(fact))
    return bool(words and words <= asked) or bool(values and values <= stated)


@cache
def worked_examples() -> tuple[tuple[tuple[str, ...], ...], ...]:
    """The content words (as stems) of each worked example's answer in the answer
    prompts of every language."""
    examples = []
    for language in LANGUAGES:
        system = render(f"answer_system.{language}.txt", decline=DECLINE[language])
        for line in _EXAMPLE_ANSWER.findall(system):
            examples.append(tuple(content_word_stems(CITATIONS.sub(" ", line))))
    return tuple(e for e in examples if e)


_EXAMPLE_ANSWER = re.compile(r"^(?:Answer|Respuesta): (.+)$", re.MULTILINE)


def repeats_example(text: str, sources: Sequence[Source]) -> bool:
    """Whether the answer holds every word of a worked example's answer ("Shadowing",
    "60.9% (251 of 412)") and the sources do not: the example copied, not the documents.
    Numbers and dates are caught by the claim check too; a term like "Shadowing" is not."""
    said = text_stems(text)
    in_sources = text_stems(" ".join(s.text for s in sources))
    return any(
        all(not said.isdisjoint(stems) for stems in example)
        and any(in_sources.isdisjoint(stems) for stems in example)
        for example in worked_examples()
    )


def restates(text: str, question: str) -> bool:
    """Whether every content word of the answer is one of the question's (in any form):
    it names nothing the question did not."""
    said = [
        stems
        for stems in content_word_stems(CITATIONS.sub(" ", text))
        if len(stems[0]) > 1 or stems[0].isdigit()  # "Q:", "A:" say nothing
    ]
    if not said:
        return False  # "Yes [1]." answers a yes-or-no question
    asked = text_stems(question)
    return all(not asked.isdisjoint(stems) for stems in said)


@dataclass(frozen=True)
class Candidate:
    """A source sentence the answer may come from."""

    source: Source
    text: str
    coverage: float  # share of the question's word weight it holds


def candidates(
    sources: Sequence[Source],
    question: str,
    word_stems: Sequence[tuple[str, ...]],
    weights: Sequence[float],
    limit: int = CANDIDATES,
    min_share_of_best: float = 0.5,
) -> list[Candidate]:
    """The `limit` sentences of the sources (whole passages, not only what the model
    read) that hold most of the question's words and say something more, best first,
    each holding at least `min_share_of_best` of what the best one holds.

    The floor is the model's pointing's guard: its first-token probabilities over a few
    digits are a weak signal, and once it chose "Trips are booked ten days ahead"
    (0.2 of the question) over the sentence with the allowance (0.8). Between sentences
    that hold about as much of the question, the words cannot tell and the model can."""
    scored = score_sentences(sources, word_stems, weights)
    # A question in the text (an FAQ's "Q: How long is the warranty?") or a sentence that
    # only says the question covers all of it and answers nothing.
    ranked = sorted(
        (s for run in scored for s in run if s.coverage > 0),
        key=lambda s: (-s.coverage, s.source_index, s.position),
    )
    chosen: list[Candidate] = []
    for sentence in ranked:
        if chosen and sentence.coverage < chosen[0].coverage * min_share_of_best:
            break
        source = sources[sentence.source_index]
        text = sentence_window(source, sentence, word_stems)
        if text.rstrip().endswith("?") or restates(text, question):
            continue
        if all(c.text != text for c in chosen):
            chosen.append(Candidate(source, text, sentence.coverage))
        if len(chosen) == limit:
            break
    return chosen


def pointer_messages(question: str, options: Sequence[Candidate], language: str) -> list[Message]:
    """A prompt whose reply is the number of the sentence that answers."""
    sentences = "\n\n".join(
        render_source(replace(c.source, number=n, evidence=c.text), language)
        for n, c in enumerate(options, 1)
    )
    return [
        {"role": "system", "content": render(f"pointer_system.{language}.txt")},
        {
            "role": "user",
            "content": render(
                f"pointer_user.{language}.txt", sentences=sentences, question=question.strip()
            ),
        },
    ]


def point(generator: Generator, question: str, options: Sequence[Candidate], language: str) -> int:
    """The index of the option the model says answers the question (0: the best-covered
    one, when there is one option or the generator cannot tell probabilities)."""
    probe = getattr(generator, "first_token_probabilities", None)
    if probe is None or len(options) < 2:
        return 0
    probabilities = probe(
        pointer_messages(question, options, language), [str(n) for n in range(1, len(options) + 1)]
    )
    return max(range(len(options)), key=lambda i: (probabilities[i], -i))


@dataclass(frozen=True)
class Revision:
    """What the second look made of an answer."""

    reason: str  # UNSUPPORTED, RESTATED or REALIGNED
    text: str  # the new answer ("" when none could be confirmed)
    claims: tuple[ClaimCheck, ...]
    pointed: str  # the sentence the new answer was made from

    @property
    def confirmed(self) -> bool:
        return bool(self.text)


def review(
    generator: Generator,
    question: str,
    sources: Sequence[Source],
    language: str,
    weighted: tuple[Sequence[tuple[str, ...]], Sequence[float]],
    text: str,
    claims: Sequence[ClaimCheck],
    temperature: float,
    max_tokens: int,
) -> Revision | None:
    """What becomes of the checked answer `text`: None to show it as written; else a
    revision (a table value moved to the right row, an answer made again, or none that
    could be confirmed)."""
    reason = why_second_look(text, claims, question, sources)
    if reason:
        try:
            revision = second_look(
                generator, question, sources, language, weighted, reason, temperature, max_tokens
            )
        except GeneratorError:
            # The model failed on the second try: the first answer stays unconfirmed.
            revision = Revision(reason, "", (), "")
        if reason == RESTATED and not revision.confirmed:
            # Saying the question back is no false fact (and is the answer to "A or B?"
            # questions): when the second try fares no better, the first one stands.
            return None
        return revision
    aligned = align_values(text, sources, *weighted)
    if aligned == text:
        return None
    aligned, claims = verify_answer(aligned, sources)
    return Revision(REALIGNED, aligned, claims, "")


def second_look(
    generator: Generator,
    question: str,
    sources: Sequence[Source],
    language: str,
    weighted: tuple[Sequence[tuple[str, ...]], Sequence[float]],
    reason: str,
    temperature: float,
    max_tokens: int,
) -> Revision:
    """The answer made again from the sentence the model points at, checked again."""
    word_stems, weights = weighted
    options = candidates(sources, question, word_stems, weights)
    if not options:
        return Revision(reason, "", (), "")
    chosen = options[point(generator, question, options, language)]
    # The sentence keeps its source's number, so the new answer's [n] is the same card.
    only = replace(chosen.source, evidence=chosen.text, trimmed=False)
    messages = answer_messages(question, [only], language)
    text = strip_delimiters(
        "".join(generator.stream(messages, temperature=temperature, max_tokens=max_tokens))
    )
    text, claims = verify_answer(text, sources)
    if not text.strip() or why_second_look(text, claims, question, sources) or is_decline(text):
        return Revision(reason, "", (), chosen.text)
    return Revision(reason, text, claims, chosen.text)
