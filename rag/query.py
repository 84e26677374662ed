"""Turning a question into an FTS5 query: its content words, any of which may match."""

from __future__ import annotations

import re
import unicodedata

# Function words of English and Spanish. They match nearly every passage, so dropping
# them makes the lexical search faster without changing what ranks first.
_STOPWORDS = frozenset(
    """
    a an and are as at be been but by can could did do does for from had has have how i if
    in into is it its me my no not of on or our so than that the their them then there these
    they this those to was we were what when where which who whom whose why will with would
    you your
    al como con cual cuales cuando cuanto cuantos de del desde donde el ella ellas ellos en
    entre era es esa ese eso esta este esto fue fueron ha han hay la las le les lo los mas
    me mi muy no nos o para pero por que quien quienes se ser si sin sobre son su sus te tu
    un una uno unos unas y ya
    """.split()
)

_TOKEN = re.compile(r"\w+", re.UNICODE)


def _fold(word: str) -> str:
    """Lowercase without accents, as the FTS5 tokenizer sees it."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def terms(query: str) -> list[str]:
    """The distinct content words of a query, in order. Stopwords go unless nothing is left."""
    words = [_fold(w) for w in _TOKEN.findall(query)]
    words = [w.replace("_", " ").strip() for w in words]
    words = [w for w in words if w]
    content = [w for w in words if w not in _STOPWORDS]
    return list(dict.fromkeys(content or words))


def fts_match(query: str) -> str | None:
    """An FTS5 MATCH expression: any term may match, BM25 ranks by how many and how rare.

    Each term is quoted, so words like AND, NEAR or a stray '"' in a question are data,
    never query syntax.
    """
    quoted = ['"' + t.replace('"', "") + '"' for t in terms(query)]
    return " OR ".join(quoted) if quoted else None
