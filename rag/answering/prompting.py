"""From hits to the messages a model reads: templates, numbered sources, a token budget.

Templates are package data files (`rag/answering/prompts/`), rendered strictly: a
placeholder left unfilled or a value nobody asked for is an error, never a silently odd
prompt. Document text is untrusted. It is quoted between triple-quote lines, and any such
line inside it is broken up, so a passage cannot close its quotation and speak as the
prompt.
"""

from __future__ import annotations

import importlib.resources
import re
import string
from collections.abc import Callable, Sequence
from functools import cache

from rag.answering.answers import Source
from rag.errors import RagError
from rag.llm.base import Message
from rag.types import Hit

LANGUAGES = ("en", "es")
DECLINE = {
    "en": "I cannot find the answer in your documents.",
    "es": "No encuentro la respuesta en tus documentos.",
}
PAGE_WORD = {"en": "page", "es": "página"}
TRIM_MARKER = " […]"


class PromptError(RagError):
    """A prompt template is missing, or its placeholders do not match the values given."""


@cache
def load_template(name: str) -> string.Template:
    try:
        text = (importlib.resources.files("rag.answering") / "prompts" / name).read_text(
            encoding="utf-8"
        )
    except FileNotFoundError:
        raise PromptError(
            f"prompt template {name!r} is missing from rag/answering/prompts/"
        ) from None
    return string.Template(text.rstrip("\n"))


def render(name: str, **values: str) -> str:
    """Fill a template; every placeholder must be given, and nothing else."""
    template = load_template(name)
    wanted = set(template.get_identifiers())
    if wanted != set(values):
        missing, extra = sorted(wanted - set(values)), sorted(set(values) - wanted)
        raise PromptError(f"template {name}: missing values {missing}, unexpected {extra}")
    # substitute() never re-reads the values, so a '$' in a document stays text.
    return template.substitute(values)


def language_of_prompt(language: str) -> str:
    return language if language in LANGUAGES else "en"


def quote(text: str) -> str:
    """Document text made safe to sit between the triple-quote delimiters."""
    return re.sub(r'"{3,}', lambda m: '" ' * len(m.group()), text).strip()


def strip_delimiters(text: str) -> str:
    """A model's reply without the quote delimiters it copied from the sources."""
    return re.sub(r'^\s*"{3}|"{3}\s*$', "", text.strip()).strip()


def source_label(source: Source, language: str) -> str:
    label = source.name
    if source.page:
        label += f", {PAGE_WORD[language_of_prompt(language)]} {source.page}"
    if source.heading:
        label += f" — {source.heading}"
    return label


def render_source(source: Source, language: str) -> str:
    return render(
        "source.txt",
        number=str(source.number),
        label=source_label(source, language),
        text=quote(source.read_text),
    )


def answer_messages(question: str, sources: Sequence[Source], language: str) -> list[Message]:
    """The system and user messages for a question over numbered sources."""
    language = language_of_prompt(language)
    system = render(f"answer_system.{language}.txt", decline=DECLINE[language])
    blocks = "\n\n".join(render_source(s, language) for s in sources)
    user = render(f"answer_user.{language}.txt", sources=blocks, question=question.strip())
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# -- from hits to sources ---------------------------------------------------------------

# Passages whose offsets are this close are neighbours: only the separator between them
# (a line break, a space) was left out of both.
_NEIGHBOUR_GAP = 2


def _document_order(hit: Hit) -> tuple:
    return (hit.collection, hit.source, hit.page or 0, hit.start or 0, hit.chunk_id)


def merge_neighbours(hits: Sequence[Hit]) -> list[Source]:
    """Hits as sources, best first; adjacent or overlapping passages of one document page
    are joined into one source (their overlap kept once)."""
    runs: list[list[Hit]] = []
    for hit in sorted(hits, key=_document_order):
        last = runs[-1][-1] if runs else None
        if (
            last is not None
            and last.source == hit.source
            and last.collection == hit.collection
            and last.page == hit.page
            and last.end is not None
            and hit.start is not None
            and hit.start <= last.end + _NEIGHBOUR_GAP
        ):
            runs[-1].append(hit)
        else:
            runs.append([hit])
    sources = [_joined(run) for run in runs]
    sources.sort(key=lambda s: (-s.score, s.hits[0].chunk_id))
    return [_numbered(s, i) for i, s in enumerate(sources, 1)]


def _joined(run: list[Hit]) -> Source:
    text, end = run[0].text, run[0].end
    for hit in run[1:]:
        if hit.end is not None and end is not None and hit.end <= end:
            continue  # wholly inside what is already there
        overlap = end - hit.start if end is not None and hit.start is not None else 0
        text += hit.text[overlap:] if overlap > 0 else "\n" + hit.text
        end = hit.end
    best = max(run, key=lambda h: h.score)
    return Source(
        number=0,
        source=best.source,
        page=best.page,
        heading=run[0].heading,
        title=best.title,
        text=text,
        score=best.score,
        hits=tuple(run),
    )


def _numbered(source: Source, number: int) -> Source:
    return Source(**{**source.__dict__, "number": number})


# -- fitting the budget -----------------------------------------------------------------

# A source cut below this many tokens says too little to be worth its label.
MIN_TRIMMED_TOKENS = 40


def pack_sources(
    question: str,
    sources: Sequence[Source],
    language: str,
    budget: int,
    count_tokens: Callable[[str], int],
) -> list[Source]:
    """The best sources that fit in `budget` tokens of the rendered prompt, renumbered.

    Sources go in best first. The first one that does not fit is cut at a word boundary
    (marked with "[…]") if enough room is left for it to say something; the rest wait.
    `budget` covers the whole prompt; `count_tokens` measures a list of messages' text.
    """
    packed: list[Source] = []
    for source in sources:
        candidate = _numbered(source, len(packed) + 1)
        if count_tokens(_prompt_text(question, [*packed, candidate], language)) <= budget:
            packed.append(candidate)
            continue
        trimmed = _trim_to_fit(question, packed, candidate, language, budget, count_tokens)
        if trimmed is not None:
            packed.append(trimmed)
        break
    return packed


def _prompt_text(question: str, sources: Sequence[Source], language: str) -> str:
    return "\n".join(m["content"] for m in answer_messages(question, sources, language))


def _trim_to_fit(question, packed, source, language, budget, count_tokens) -> Source | None:
    base = count_tokens(_prompt_text(question, packed, language))
    if budget - base < MIN_TRIMMED_TOKENS:
        return None
    read = source.read_text
    words = list(re.finditer(r"\S+", read))
    best = None
    low, high = 1, len(words) - 1  # keep words[:n]; binary search on the largest n that fits
    while low <= high:
        middle = (low + high) // 2
        cut = read[: words[middle - 1].end()] + TRIM_MARKER
        shorter = Source(**{**source.__dict__, "evidence": cut, "trimmed": True})
        if count_tokens(_prompt_text(question, [*packed, shorter], language)) <= budget:
            best, low = shorter, middle + 1
        else:
            high = middle - 1
    if best is None or count_tokens(best.read_text) < MIN_TRIMMED_TOKENS:
        return None
    return best
