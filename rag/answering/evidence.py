"""Focused evidence: the sentences of the retrieved passages that bear on the question.

Time to first token grows with the prompt: the bundled 1.5B model reads about 50 prompt
tokens a second on 2 cores, so three whole 250-token passages cost 15 s before the first
word. The answer is nearly always in the sentence where the question's rarer words meet,
so the model is given those sentences with their immediate neighbours (for the subject a
pronoun refers to, or a number's unit on the next line), under each source's label. The
whole passages stay on the source cards.

The same per-sentence coverage also measures how much of the question the evidence
speaks to at all, one of the signals the answer's decline decision uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from rag.answering.answers import Source
from rag.text.cooccurrence import coverage
from rag.text.lexical import text_stems

# A sentence ends at . ! ? or a line break followed by space; a line of a table is a
# sentence of its own. Abbreviations cut a sentence short now and then, and the
# neighbours brought along with every chosen sentence make up for it.
_SENTENCE = re.compile(r"[^\n]*?(?:[.!?](?=\s)|\n|$)")
GAP = " … "
# A "sentence" longer than this (a run-on table row, a list without stops) is cut to the
# window of this many words that holds most of the question.
MAX_SENTENCE_WORDS = 60
# A table row as the loaders write it, "Region: North; Units: 9150; Owner: Ana Gil": it
# names every value, so it needs no neighbours, and its neighbours are other rows whose
# values the small model takes for this one's (5 of 6 wrong answers on the formats set
# were the row above or below the right one).
# A label is a column header: short, any bracket in it closed ("Price (EUR)"), which
# tells a row from prose with asides ("Amazonia (Portuguese: Floresta; Spanish: Selva").
_LABEL = r"[^:;\n()]{1,40}(?:\([^:;\n()]{0,20}\)[^:;\n()]{0,20})?"
TABLE_ROW = re.compile(rf"^{_LABEL}: [^;\n]*(?:; {_LABEL}: [^;\n]*)+$")


@dataclass(frozen=True)
class Sentence:
    source_index: int
    position: int  # order within its source
    start: int  # offsets into the source's text
    end: int
    coverage: float  # share of the question's word weight it holds, 0 to 1


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each non-blank sentence of `text`, surrounding spaces left out."""
    spans = []
    for match in _SENTENCE.finditer(text):
        start, end = match.span()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def score_sentences(
    sources: Sequence[Source], word_stems: Sequence[tuple[str, ...]], weights: Sequence[float]
) -> list[list[Sentence]]:
    """Every sentence of every source with its coverage of the question."""
    scored = []
    for index, source in enumerate(sources):
        spans = sentence_spans(source.text)
        scored.append(
            [
                Sentence(
                    index,
                    position,
                    start,
                    end,
                    coverage(source.text[start:end], word_stems, weights),
                )
                for position, (start, end) in enumerate(spans)
            ]
        )
    return scored


def best_window_coverage(
    sources: Sequence[Source], word_stems: Sequence[tuple[str, ...]], weights: Sequence[float]
) -> float:
    """The largest share of the question that two neighbouring sentences of one source
    hold: the question's words meet where the answer is, at most a sentence apart."""
    best = 0.0
    for source in sources:
        spans = sentence_spans(source.text)
        for i, (start, _) in enumerate(spans):
            end = spans[min(i + 1, len(spans) - 1)][1]
            best = max(best, coverage(source.text[start:end], word_stems, weights))
    return best


def focus_sources(
    sources: Sequence[Source],
    word_stems: Sequence[tuple[str, ...]],
    weights: Sequence[float],
    budget: int,
    count_tokens: Callable[[str], int],
    neighbours: int = 1,
    min_share_of_best: float = 0.5,
) -> list[Source]:
    """The sources with `evidence` set to their question-bearing sentences, renumbered;
    sources with nothing chosen are left out. The evidence of all sources together stays
    within `budget` tokens (the first chosen sentence always goes in, cut if need be).

    Sentences are taken best first across all sources (ties go to the better-ranked
    source), each with `neighbours` sentences either side, as long as they hold at least
    `min_share_of_best` of what the best sentence holds of the question.
    """
    scored = score_sentences(sources, word_stems, weights)
    best = max((s.coverage for run in scored for s in run), default=0.0)
    # A sentence holding much less of the question than the best one is rarely where the
    # answer is, and each costs the reader time.
    floor = max(best * min_share_of_best, 1e-9)
    ranked = sorted(
        (s for run in scored for s in run if s.coverage >= floor),
        key=lambda s: (-s.coverage, s.source_index, s.position),
    )
    if not ranked and scored and scored[0]:
        ranked = [scored[0][0]]  # no question word anywhere: the best passage's opening
    chosen: dict[int, set[int]] = {}
    used = 0
    for sentence in ranked:
        run = scored[sentence.source_index]
        reach = 0 if is_table_row(sources[sentence.source_index].text, sentence) else neighbours
        around = range(
            max(0, sentence.position - reach),
            min(len(run), sentence.position + reach + 1),
        )
        new = [p for p in around if p not in chosen.get(sentence.source_index, set())]
        if not new:
            continue
        text = GAP.join(
            sentence_window(sources[sentence.source_index], run[p], word_stems) for p in new
        )
        cost = count_tokens(text)
        if used + cost > budget:
            if used:
                continue  # a smaller sentence further down may still fit
            new = [sentence.position]  # the best sentence alone, whatever it costs
            cost = count_tokens(
                sentence_window(sources[sentence.source_index], sentence, word_stems)
            )
        chosen.setdefault(sentence.source_index, set()).update(new)
        used += cost
        if used >= budget:
            break

    focused = []
    for index, source in enumerate(sources):
        positions = sorted(chosen.get(index, ()))
        if not positions:
            continue
        run = scored[index]
        parts, previous = [], None
        for p in positions:
            if previous is not None:
                if is_table_row(source.text, run[p]) or is_table_row(source.text, run[previous]):
                    parts.append("\n")  # a row per line, as in the table: never run together
                else:
                    parts.append(" " if p == previous + 1 else GAP)
            parts.append(sentence_window(source, run[p], word_stems))
            previous = p
        evidence = "".join(parts)
        if positions[0] > 0:
            evidence = "… " + evidence
        if positions[-1] < len(run) - 1:
            evidence += " …"
        focused.append(replace(source, number=len(focused) + 1, evidence=evidence))
    return focused


def is_table_row(text: str, sentence: Sentence) -> bool:
    return TABLE_ROW.match(text[sentence.start : sentence.end]) is not None


def sentence_window(source: Source, sentence: Sentence, word_stems) -> str:
    text = " ".join(source.text[sentence.start : sentence.end].split())
    words = text.split(" ")
    if len(words) <= MAX_SENTENCE_WORDS:
        return text
    wanted = {stem for stems in word_stems for stem in stems}
    hits = [not text_stems(w).isdisjoint(wanted) for w in words]
    window = MAX_SENTENCE_WORDS
    best_start = max(range(len(words) - window + 1), key=lambda i: (sum(hits[i : i + window]), -i))
    # Centre the window on the question words it holds, so their context on both sides
    # comes along.
    inside = [i for i in range(best_start, best_start + window) if hits[i]]
    if inside:
        centre = (inside[0] + inside[-1]) // 2
        best_start = min(max(0, centre - window // 2), len(words) - window)
    cut = " ".join(words[best_start : best_start + window])
    return ("… " if best_start else "") + cut + (" …" if best_start + window < len(words) else "")
