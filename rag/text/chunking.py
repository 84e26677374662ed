"""Structure-aware chunking: a parsed document becomes passages sized in embedder tokens.

A passage never crosses a section (a change of page or heading), is cut at sentence
boundaries where it can be, overlaps its predecessor by a few sentences so an answer that
straddles a cut is still found whole, and records character offsets into the document text
so that `document_text(doc)[chunk.start:chunk.end] == chunk.text`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from ingest import ParsedDocument
from rag.config import ChunkerSettings
from rag.types import Chunk

SECTION_SEPARATOR = "\n\n"
TokenCounter = Callable[[list[str]], list[int]]

# Split points, coarsest first. A piece still too long after one level is split by the next.
_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?;:。])\s+")
_LINE_END = re.compile(r"\n")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    tokens: int


def document_text(doc: ParsedDocument) -> tuple[str, list[tuple[int, int]]]:
    """The document's full text and each section's (start, end) in it."""
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    offset = 0
    for index, section in enumerate(doc.sections):
        if index:
            parts.append(SECTION_SEPARATOR)
            offset += len(SECTION_SEPARATOR)
        parts.append(section.text)
        spans.append((offset, offset + len(section.text)))
        offset += len(section.text)
    return "".join(parts), spans


def _split(text: str, start: int, end: int, pattern: re.Pattern) -> list[tuple[int, int]]:
    """Non-blank pieces of text[start:end] between matches of pattern, trimmed."""
    pieces = []
    cursor = start
    for match in pattern.finditer(text, start, end):
        pieces.append((cursor, match.start()))
        cursor = match.end()
    pieces.append((cursor, end))
    out = []
    for a, b in pieces:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append((a, b))
    return out


def _measure(text: str, spans: list[tuple[int, int]], count: TokenCounter) -> list[_Span]:
    counts = count([text[a:b] for a, b in spans])
    return [_Span(a, b, n) for (a, b), n in zip(spans, counts, strict=True)]


def _word_windows(text: str, span: _Span, max_tokens: int) -> list[tuple[int, int]]:
    """Cut an over-long run without sentence or line breaks into runs of whole words."""
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, span.start, span.end)]
    tokens_per_word = max(span.tokens / max(len(words), 1), 1.0)
    per_window = max(int(max_tokens / tokens_per_word), 1)
    return [
        (words[i][0], words[min(i + per_window, len(words)) - 1][1])
        for i in range(0, len(words), per_window)
    ]


def _sentences(text: str, span: _Span, count: TokenCounter, max_tokens: int) -> list[_Span]:
    """Sentence-like units of an over-long paragraph, each at most max_tokens (words permitting)."""
    units = [span]
    for pattern in (_SENTENCE_END, _LINE_END, None):
        if all(u.tokens <= max_tokens for u in units):
            return units
        spans: list[tuple[int, int]] = []
        for u in units:
            if u.tokens <= max_tokens:
                spans.append((u.start, u.end))
            elif pattern is not None:
                spans.extend(_split(text, u.start, u.end, pattern))
            else:
                spans.extend(_word_windows(text, u, max_tokens))
        units = _measure(text, spans, count)
    return units


def _pack_with_overlap(units: list[_Span], limit: int, overlap: int) -> list[tuple[int, int]]:
    """Windows over the units of one long paragraph, evenly sized, each re-reading the tail
    of the previous one (up to `overlap` tokens) so a fact cut in two is still found whole."""
    total = sum(u.tokens for u in units)
    stride = max(limit - overlap, 1)
    pieces = max(1, -(-(total - overlap) // stride))
    # Even sizes: a paragraph just over the limit becomes two halves, not a full window
    # and a scrap.
    budget = min(limit, -(-total // pieces) + overlap)
    windows = []
    first = 0
    while first < len(units):
        last = first
        size = units[first].tokens
        while last + 1 < len(units) and size + units[last + 1].tokens <= budget:
            last += 1
            size += units[last].tokens
        windows.append((units[first].start, units[last].end))
        if last + 1 >= len(units):
            break
        nxt = last + 1
        carried = 0
        while nxt - 1 > first and carried + units[nxt - 1].tokens <= overlap:
            nxt -= 1
            carried += units[nxt].tokens
        first = nxt
    return windows


def _windows(
    text: str, start: int, end: int, count: TokenCounter, limit: int, overlap: int
) -> list[tuple[int, int]]:
    """Chunk spans for one section: whole paragraphs packed together while they fit; a
    paragraph too long for one chunk gets chunks of its own, cut between sentences."""
    paragraphs = _measure(text, _split(text, start, end, _PARAGRAPH), count)
    windows: list[tuple[int, int]] = []
    group: list[_Span] = []

    def flush() -> None:
        if group:
            windows.append((group[0].start, group[-1].end))
            group.clear()

    for para in paragraphs:
        if para.tokens > limit:
            # A short lead-in (a title line, "Q: ...") stays with the text it introduces
            # instead of becoming a chunk of its own.
            lead_in = list(group) if sum(p.tokens for p in group) <= overlap else []
            if not lead_in:
                flush()
            group.clear()
            units = lead_in + _sentences(text, para, count, limit)
            windows.extend(_pack_with_overlap(units, limit, overlap))
        elif sum(p.tokens for p in group) + para.tokens > limit:
            flush()
            group.append(para)
        else:
            group.append(para)
    flush()
    return windows


def chunk_key(doc_sha256: str, position: int, start: int, end: int) -> str:
    return hashlib.sha256(f"{doc_sha256}:{position}:{start}:{end}".encode()).hexdigest()[:24]


def chunk_document(
    doc: ParsedDocument,
    doc_sha256: str,
    count_tokens: TokenCounter,
    settings: ChunkerSettings | None = None,
) -> list[Chunk]:
    settings = settings or ChunkerSettings()
    text, section_spans = document_text(doc)
    headings = [" > ".join(section.heading) for section in doc.sections]
    # The title and heading are embedded with each passage (embedding_input), so they
    # share the model's window with it. A very long heading still leaves half the window.
    context_tokens = count_tokens([embedding_input(doc.title, h, "") for h in headings])
    chunks: list[Chunk] = []
    for section, heading, used, (start, end) in zip(
        doc.sections, headings, context_tokens, section_spans, strict=True
    ):
        limit = max(settings.max_tokens - used - 1, settings.max_tokens // 2)
        for a, b in _windows(text, start, end, count_tokens, limit, settings.overlap_tokens):
            position = len(chunks)
            chunks.append(
                Chunk(
                    key=chunk_key(doc_sha256, position, a, b),
                    position=position,
                    text=text[a:b],
                    start=a,
                    end=b,
                    page=section.page,
                    heading=heading,
                )
            )
    return chunks


def embedding_input(title: str, heading: str, text: str) -> str:
    """What the embedder reads for a passage: where it sits, then what it says.

    The title and heading give a short passage the context a reader would have.
    """
    context = " > ".join(part for part in (title, heading) if part)
    return f"{context}\n{text}" if context else text
