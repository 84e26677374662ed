"""How much of a question one sentence of a passage covers.

BM25 scores a passage as a bag of words: a passage that mentions the question's words
in different places ranks like one that answers it in a single sentence. With overlapping
chunks the two are often neighbours, and the answer is in the one where the question's
words meet. This feature is the share of the question's weight (IDF of its content
words) found together in the passage's best sentence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from rag.text.lexical import text_stems

# A sentence ends at . ! ? ; or a line break; enough for ranking, no language model needed.
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")


def idf(passages: int, frequency: int) -> float:
    """BM25's inverse document frequency, never negative."""
    return math.log(1 + (passages - frequency + 0.5) / (frequency + 0.5))


def word_weights(
    word_stems: Sequence[tuple[str, ...]], passages: int, frequencies: Mapping[str, int]
) -> list[float]:
    """One weight per question word: its IDF in the index.

    A word has one stem per language, and the index holds passages stemmed in their own
    language, so the other stem is usually absent; the most frequent one is the word.
    """
    return [idf(passages, max(frequencies.get(stem, 0) for stem in stems)) for stems in word_stems]


def coverage(text: str, word_stems: Sequence[tuple[str, ...]], weights: Sequence[float]) -> float:
    """The share (0 to 1) of the question's word weight that `text` holds."""
    total = sum(weights)
    if total <= 0:
        return 0.0
    found = text_stems(text)
    covered = sum(
        w for stems, w in zip(word_stems, weights, strict=True) if not found.isdisjoint(stems)
    )
    return covered / total


def best_sentence_share(
    text: str, word_stems: Sequence[tuple[str, ...]], weights: Sequence[float]
) -> float:
    """The largest share (0 to 1) of the question's word weight that one sentence holds."""
    return max(
        (coverage(sentence, word_stems, weights) for sentence in _SENTENCE_END.split(text)),
        default=0.0,
    )
