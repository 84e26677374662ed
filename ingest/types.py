"""What a loader returns: a parsed document, independent of chunks, vectors or indexes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    """A run of text that shares one page and one heading path.

    Loaders split a document wherever the page or the heading changes, so that
    every later stage can keep "file, page, heading" attached to each passage.
    """

    text: str
    page: int | None = None  # 1-based; None for formats without pages
    heading: tuple[str, ...] = ()  # outermost heading first


@dataclass(frozen=True)
class ParsedDocument:
    path: str
    title: str
    format: str  # "pdf", "docx", "markdown", "html", "text"
    sections: tuple[Section, ...]
    page_count: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    # Non-fatal problems worth showing the user, e.g. "page 3 has no text layer".
    warnings: tuple[str, ...] = ()


class LoadError(Exception):
    """A file could not be turned into text. The message names the file and the fix."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class UnsupportedFormatError(LoadError):
    """The file's type has no loader; it is skipped, not failed."""
