"""The lexical side of search: the words FTS5 indexes, and the query it runs.

Both passages and questions go through the same analysis: words are lowercased, accents
folded (so `politica` finds `política`) and reduced to their stem with the Snowball
stemmer of their language (so `vacaciones` finds `vacación`, `points` finds `point`).
A passage is stemmed in its document's language. A question's language is not trusted
to a guess: each word is looked up by its English and its Spanish stem.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

LANGUAGES = ("en", "es")
_SNOWBALL_NAMES = {"en": "english", "es": "spanish"}

# Function words. They match nearly every passage, so a question's are dropped (faster,
# same ranking); their counts also tell English from Spanish text.
STOPWORDS = {
    "en": frozenset(
        """
        a an and are as at be been but by can could did do does for from had has have how i
        if in into is it its me my no not of on or our so than that the their them then there
        these they this those to was we were what when where which who whom whose why will
        with would you your
        """.split()
    ),
    "es": frozenset(
        """
        al como con cual cuales cuando cuanto cuantos de del desde donde el ella ellas ellos
        en entre era es esa ese eso esta este esto fue fueron ha han hay la las le les lo los
        mas me mi muy no nos o para pero por que quien quienes se ser si sin sobre son su sus
        te tu un una uno unos unas y ya
        """.split()
    ),
}
_ALL_STOPWORDS = STOPWORDS["en"] | STOPWORDS["es"]
_WORD = re.compile(r"\w+", re.UNICODE)


def fold(word: str) -> str:
    """Lowercase without accents."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """Folded words; '_' separates words as it does for the FTS5 tokenizer."""
    return [w for raw in _WORD.findall(text) for w in fold(raw).split("_") if w]


@lru_cache(maxsize=len(LANGUAGES))
def _stemmer(language: str):
    return Stemmer.Stemmer(_SNOWBALL_NAMES[language])


_SPANISH_MARKS = frozenset("ñ¿¡áéíóú")


def guess_language(text: str, sample_words: int = 2000) -> str:
    """'es' or 'en', by which language's function words are more frequent. A text with
    none (a few keywords) is Spanish if it has a letter or mark English never uses."""
    sample = words(text[: sample_words * 8])[:sample_words]
    counts = {lang: sum(w in STOPWORDS[lang] for w in sample) for lang in LANGUAGES}
    if counts["es"] == counts["en"]:
        return "es" if _SPANISH_MARKS & set(text[: sample_words * 8].lower()) else "en"
    return "es" if counts["es"] > counts["en"] else "en"


def told_language(text: str) -> str | None:
    """The language a short text's own words tell, or None when they tell neither: a
    name, a number or "Catherine Tate [1]" reads the same in English and Spanish."""
    if _ALL_STOPWORDS.isdisjoint(words(text)) and _SPANISH_MARKS.isdisjoint(text.lower()):
        return None
    return guess_language(text)


def analyze(text: str, language: str) -> str:
    """The text as FTS5 stores it: stems separated by spaces."""
    return " ".join(_stemmer(language).stemWords(words(text)))


def _stems_per_word(found: list[str]) -> list[tuple[str, ...]]:
    """Each distinct word as its stems, one per language."""
    found = list(dict.fromkeys(found))
    per_language = [_stemmer(language).stemWords(found) for language in LANGUAGES]
    return list(dict.fromkeys(zip(*per_language, strict=True)))


def content_word_stems(text: str) -> list[tuple[str, ...]]:
    """The stems of each distinct content word (stopwords dropped; [] if none is left)."""
    return _stems_per_word([w for w in words(text) if w not in _ALL_STOPWORDS])


def query_word_stems(query: str) -> list[tuple[str, ...]]:
    """Each distinct content word of a question as its stems, one per language (the
    question's language is not trusted to a guess). Stopwords are dropped unless nothing
    is left."""
    return content_word_stems(query) or _stems_per_word(words(query))


def query_terms(query: str) -> list[str]:
    """The distinct stems to look up for a question."""
    return list(dict.fromkeys(stem for stems in query_word_stems(query) for stem in stems))


def text_stems(text: str) -> set[str]:
    """Every stem of a text in every language, to test which question words it holds."""
    found = words(text)
    return {stem for language in LANGUAGES for stem in _stemmer(language).stemWords(found)}


def fts_match(query: str) -> str | None:
    """An FTS5 MATCH expression: any term may match; BM25 ranks by how many and how rare.

    Each term is quoted, so words like AND, NEAR or a stray '"' in a question are data,
    never query syntax.
    """
    quoted = ['"' + t.replace('"', "") + '"' for t in query_terms(query)]
    return " OR ".join(quoted) if quoted else None


def highlight_spans(text: str, question: str) -> list[tuple[int, int]]:
    """Character spans of the words in `text` that match a question's content words the
    way search does (any accent, any form: `política` marks `politicas`)."""
    wanted = set(query_terms(question))
    if not wanted:
        return []
    spans = []
    for match in _WORD.finditer(text):
        word = fold(match.group())
        if any(_stemmer(language).stemWord(word) in wanted for language in LANGUAGES):
            spans.append(match.span())
    return spans
