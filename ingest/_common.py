"""Helpers shared by the loaders: text scrubbing, heading paths, titles.

Private to the package: loaders import from here, callers never do.
"""

from __future__ import annotations

import re

from .types import Section

# Lone UTF-16 surrogates come out of broken PDF text encodings; they cannot be encoded to
# UTF-8, so they would crash whatever stores the text later (SQLite, JSON). Replace them.
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def scrub(text: str) -> str:
    """Make text safe to store without changing its content.

    NUL characters go, lone surrogates become U+FFFD and line endings become "\\n".
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    text = _SURROGATES.sub("\ufffd", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


class SectionBuilder:
    """Collects text into Sections, starting a new one at every heading.

    A heading's own line is the first line of the section it opens, so every format
    keeps its heading words searchable in the section text. Text before the first
    heading becomes a section with an empty heading path. A heading with no text under
    it (a chapter heading right before its first sub-heading) adds no section of its
    own: its title lives on in the heading paths below it. Only a document made of
    nothing but headings keeps them as sections, rather than losing its only text.
    """

    def __init__(self, page: int | None = None) -> None:
        self._page = page
        self._stack: list[tuple[int, str]] = []  # (level, title), outermost first
        self._heading_line: str | None = None  # the line that opened the current block
        self._lines: list[str] = []  # the block's other lines
        self._sections: list[tuple[Section, bool]] = []  # (section, has body text)

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._stack)

    def heading(self, level: int, title: str, line: str | None = None) -> None:
        """Close the current block and open one under `title` at `level` (smaller = outer).

        Skipped levels are fine ("#" then "###"): a heading pops every heading at its
        level or deeper, so siblings replace each other and parents stay.
        """
        self.flush()
        title = " ".join(title.split())
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        if title:
            self._stack.append((level, title))
        self._heading_line = title if line is None else line

    def add(self, text: str) -> None:
        self._lines.append(text)

    def retract_last(self) -> None:
        """Take back the last added line (a setext heading's text, seen one line late)."""
        if self._lines:
            self._lines.pop()

    def flush(self) -> None:
        lines = self._lines if self._heading_line is None else [self._heading_line, *self._lines]
        text = scrub("\n".join(lines)).strip("\n")
        if text.strip():
            section = Section(text=text, page=self._page, heading=self.path)
            has_body = any(line.strip() for line in self._lines)
            self._sections.append((section, has_body))
        self._heading_line = None
        self._lines = []

    def build(self) -> tuple[Section, ...]:
        self.flush()
        if any(has_body for _, has_body in self._sections):
            return tuple(section for section, has_body in self._sections if has_body)
        return tuple(section for section, _ in self._sections)


# Titles some producers write when the user gave none; a file stem says more than these.
_PLACEHOLDER_TITLES = {"untitled", "untitled document", "title", "document", "none", "null"}
_FILE_NAME = re.compile(r"\.(docx?|pdf|rtf|odt|txt|html?|indd|qxd|qxp|tex|dvi|ps|pages)$", re.I)


def meaningful_title(value: object) -> str | None:
    """Return a cleaned metadata title, or None when it is empty or a placeholder."""
    if not isinstance(value, str):
        return None
    title = " ".join(scrub(value).split())
    # "Microsoft Word - report.doc" is a file name dressed up as a title.
    if title.lower().startswith("microsoft word - "):
        return None
    if (
        not title
        or len(title) > 300
        or title.lower() in _PLACEHOLDER_TITLES
        or _FILE_NAME.search(title)
        or not any(ch.isalpha() for ch in title)
    ):
        return None
    return title
