"""HTML: the text a reader sees, one section per h1-h6 heading block.

Uses BeautifulSoup with the standard library's "html.parser" (no lxml needed): it never
refuses a document, however broken. Scripts, styles, head data and hidden elements are not
what a reader sees, so they are dropped before the walk. Block elements end lines,
table rows become "cell | cell" lines, and <pre> keeps its whitespace.
"""

from __future__ import annotations

import re
from pathlib import Path

from bs4 import BeautifulSoup, Comment, Declaration, Doctype, NavigableString, Tag
from bs4.element import CData, ProcessingInstruction

from ._common import SectionBuilder, meaningful_title, scrub
from .text import decode_bytes
from .types import ParsedDocument, Section

# Not <head> itself: html.parser does not repair a missing </head>, so the whole body can
# end up inside it. Dropping what a head holds (title, meta, ...) is just as clean.
_DROP = (
    "script", "style", "noscript", "template", "title", "meta", "link", "base",
    "svg", "math", "iframe", "object",
)  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {
    "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hr",
    "li", "main", "nav", "ol", "p", "section", "summary", "table", "tbody", "tfoot", "thead",
    "ul",
}  # fmt: skip
_NOT_TEXT = (Comment, Declaration, Doctype, CData, ProcessingInstruction)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)


def load_html(path: str | Path) -> ParsedDocument:
    path = Path(path)
    data = path.read_bytes()
    # The declared charset only counts when the bytes are not UTF-8 (see decode_bytes).
    declared = _META_CHARSET.search(data[:4096])
    text = decode_bytes(data, declared.group(1).decode("ascii") if declared else None)
    title, sections = html_sections(text)
    return ParsedDocument(
        path=str(path), title=title or path.stem, format="html", sections=sections
    )


def html_sections(text: str) -> tuple[str | None, tuple[Section, ...]]:
    """(title or None, sections) of an HTML document's visible text."""
    soup = BeautifulSoup(scrub(text), "html.parser")

    title_tag = soup.find("title")
    title = meaningful_title(title_tag.get_text(" ")) if title_tag else None

    for tag in soup.find_all(_DROP):
        tag.decompose()
    for tag in soup.find_all(_is_hidden):
        tag.decompose()

    walker = _Walker()
    walker.walk(soup)
    sections = walker.builder.build()
    if title is None:
        first = soup.find(["h1", "h2"])
        title = meaningful_title(first.get_text(" ")) if first else None
    return title, sections


def _is_hidden(tag: Tag) -> bool:
    if tag.has_attr("hidden") or tag.get("aria-hidden") == "true":
        return True
    style = tag.get("style")
    return isinstance(style, str) and bool(_HIDDEN_STYLE.search(style))


class _Walker:
    """Walks the tree in document order, feeding lines to a SectionBuilder."""

    def __init__(self) -> None:
        self.builder = SectionBuilder()
        self._line: list[str] = []

    def _end_line(self) -> None:
        line = " ".join("".join(self._line).split())
        if line:
            self.builder.add(line)
        self._line = []

    def walk(self, node: Tag) -> None:
        # An explicit stack, not recursion: deeply nested (or maliciously nested) HTML
        # must not hit Python's recursion limit.
        stack: list[object] = [node]
        while stack:
            item = stack.pop()
            if item is _END_BLOCK:
                self._end_line()
                continue
            if isinstance(item, NavigableString):
                if not isinstance(item, _NOT_TEXT):
                    self._line.append(str(item))
                continue
            if not isinstance(item, Tag):
                continue
            name = item.name
            if name in _HEADINGS:
                self._end_line()
                heading = " ".join(item.get_text(" ").split())
                self.builder.heading(_HEADINGS[name], heading)
            elif name == "br":
                self._end_line()
            elif name == "tr":
                self._end_line()
                cells = [
                    " ".join(cell.get_text(" ").split())
                    for cell in item.find_all(["td", "th"], recursive=False)
                ]
                if any(cells):
                    self.builder.add(" | ".join(cells))
            elif name == "pre":
                self._end_line()
                self.builder.add(item.get_text().strip("\n"))
            else:
                if name in _BLOCKS:
                    self._end_line()
                    stack.append(_END_BLOCK)
                stack.extend(reversed(item.contents))
        self._end_line()


_END_BLOCK = object()  # stack marker: the block element whose children were just walked
