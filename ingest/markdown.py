"""Markdown: one section per heading block, text kept exactly as written.

A line-based scan, not a Markdown renderer: the source text is what people search and
quote, so it stays as is (markup included), and a renderer would be a dependency for
nothing. Headings are ATX ("# Title", up to six "#") and setext (a single text line
underlined with "===" or "---"); lines inside fenced code blocks and YAML front matter
are never headings.
"""

from __future__ import annotations

import re
from pathlib import Path

from ._common import SectionBuilder, meaningful_title
from .text import read_text
from .types import ParsedDocument

# CommonMark: up to 3 spaces of indent, 1-6 "#", then a space or the end of the line;
# an optional closing run of "#" (preceded by a space) is not part of the title.
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FRONT_MATTER_TITLE = re.compile(r"^title:\s*(.+?)\s*$", re.I)


def load_markdown(path: str | Path) -> ParsedDocument:
    path = Path(path)
    lines = read_text(path).split("\n")
    builder = SectionBuilder()
    first_headings: list[tuple[int, str]] = []

    front_end = _front_matter_end(lines)
    front_title = None
    for line in lines[:front_end]:
        match = _FRONT_MATTER_TITLE.match(line)
        if match:
            front_title = match.group(1).strip("'\"")
            break

    fence: str | None = None  # the opening fence while inside a code block
    # The previous line, when it could be a setext heading's text: a single non-blank
    # line of plain text after a blank line (or a heading, or the start).
    setext_candidate: str | None = None
    prev_blank = True
    for i, line in enumerate(lines):
        if i < front_end:
            builder.add(line)
            continue
        if fence is not None:
            builder.add(line)
            # A closing fence is the same character, at least as long, nothing after it.
            stripped = line.strip()
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                fence = None
            prev_blank, setext_candidate = False, None
            continue

        fence_match = _FENCE.match(line)
        atx = _ATX.match(line)
        setext = _SETEXT.match(line)
        if fence_match:
            fence = fence_match.group(1)
            builder.add(line)
            prev_blank, setext_candidate = False, None
        elif atx:
            level, title = len(atx.group(1)), (atx.group(2) or "").strip()
            builder.heading(level, title, line)
            first_headings.append((level, title))
            prev_blank, setext_candidate = True, None
        elif setext and setext_candidate is not None:
            # The underlined line was added as text already: take it back as a heading.
            builder.retract_last()
            level = 1 if setext.group(1).startswith("=") else 2
            builder.heading(level, setext_candidate, f"{setext_candidate}\n{line}")
            first_headings.append((level, setext_candidate.strip()))
            prev_blank, setext_candidate = True, None
        else:
            builder.add(line)
            blank = not line.strip()
            # Indented lines are code or continuation text, never setext heading text.
            plain = (
                not blank
                and not line.startswith(("    ", "\t"))
                and line.lstrip()[0] not in "-*+>|"
            )
            setext_candidate = line.strip() if prev_blank and plain else None
            prev_blank = blank

    title = meaningful_title(front_title) or _first_title(first_headings) or path.stem
    return ParsedDocument(path=str(path), title=title, format="markdown", sections=builder.build())


def _front_matter_end(lines: list[str]) -> int:
    """Number of leading lines that are YAML front matter ("---" ... "---"), or 0."""
    if not lines or lines[0].strip() != "---":
        return 0
    for i in range(1, min(len(lines), 200)):
        if lines[i].strip() in {"---", "..."}:
            return i + 1
    return 0


def _first_title(headings: list[tuple[int, str]]) -> str | None:
    """The first heading of the outermost level the document uses (usually its "# ")."""
    if not headings:
        return None
    top = min(level for level, _ in headings)
    for level, title in headings:
        if level == top and meaningful_title(title):
            return meaningful_title(title)
    return None
