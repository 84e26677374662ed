"""PDF: one section per page (1-based page numbers), headed by the PDF's bookmarks.

pypdf is pure Python, so a hostile or broken file can only raise, not crash the
process; every exception is caught at the narrowest useful place:
- opening the file or reading its page tree fails -> LoadError for the file;
- one page fails -> a warning names the page, and the other pages still load;
- the bookmarks (outline) fail -> pages simply get no heading.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import LimitReachedError

from ._common import meaningful_title, scrub
from .types import LoadError, ParsedDocument, Section

try:  # recent pypdf (7.x here): limits live in a context-local Configuration
    from pypdf import apply_configuration, get_configuration
except ImportError:  # older pypdf: no Configuration to adjust, its own defaults apply
    apply_configuration = get_configuration = None

# pypdf caps every PDF array at 100,000 elements to bound memory on hostile files. Real
# filings exceed it: Microsoft's 10-Q PDFs hold a 109,548-element array (in an object
# stream read with the document catalog), so with the default cap the whole file fails
# to open with LimitReachedError. A million elements costs at most ~100 MB of Python
# objects per array (measured: 70-90 MB), a bound that still stops bombs; every other
# pypdf limit (decompressed stream sizes, parsing budgets, outline depth) keeps its
# default, and the raise applies only while this module reads a file.
MAX_ARRAY_ELEMENTS = 1_000_000

ENCRYPTED_REASON = (
    "encrypted: a password is needed to read it (remove the password and ingest again)"
)
NO_TEXT_REASON = (
    "no extractable text: the PDF has no text layer (scanned?): "
    "OCR it (for example with ocrmypdf) and ingest it again"
)

_CONTROL = re.compile(r"[\x01-\x08\x0b\x0e-\x1f\x7f]")  # not \t \n \x0c (a page break)
_HSPACE = re.compile(r"[^\S\n]+")  # any whitespace run but newlines
_BLANK_LINES = re.compile(r"\n{3,}")
_MAX_OUTLINE_DEPTH = 50


def load_pdf(path: str | Path) -> ParsedDocument:
    path = Path(path)
    name = str(path)
    with _limits(), open(path, "rb") as stream:
        reader = _open(name, stream)
        page_count = _page_count(name, reader)
        headings = _outline_headings(reader, page_count)

        sections: list[Section] = []
        warnings: list[str] = []
        unreadable: list[str] = []
        for index in range(page_count):
            number = index + 1
            try:
                text = normalise(reader.pages[index].extract_text() or "")
            except Exception as exc:  # any failure on one page must not cost the others
                unreadable.append(f"page {number}: {_short(exc)}")
                warnings.append(f"page {number} could not be read ({_short(exc)}): text skipped")
                continue
            if not text:
                warnings.append(
                    f"page {number} has no text layer (scanned image?): "
                    "OCR it to make it searchable"
                )
                continue
            heading = headings[index] if headings else ()
            sections.append(Section(text=text, page=number, heading=heading))

        if not sections:
            if len(unreadable) == page_count:
                reason = f"not a valid PDF or damaged: no page could be read ({unreadable[0]})"
                raise LoadError(name, reason)
            if unreadable:
                raise LoadError(
                    name,
                    f"{NO_TEXT_REASON}; also {len(unreadable)} page(s) could not be read "
                    f"({unreadable[0]})",
                )
            raise LoadError(name, NO_TEXT_REASON)

        title, metadata = _metadata(reader)
    return ParsedDocument(
        path=name,
        title=title or path.stem,
        format="pdf",
        sections=tuple(sections),
        page_count=page_count,
        metadata=metadata,
        warnings=tuple(warnings),
    )


def normalise(text: str) -> str:
    """Light clean-up of extracted page text: spacing only, never words.

    Drops NULs and control characters, collapses runs of spaces and tabs, trims each
    line and keeps at most one blank line in a row. Newlines stay: they carry the
    layout of tables and lists.
    """
    text = scrub(text).replace("\x0c", "\n")
    text = _HSPACE.sub(" ", _CONTROL.sub("", text))
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


@contextmanager
def _limits() -> Iterator[None]:
    if apply_configuration is None:
        yield
        return
    # Never lower a limit someone raised further for the whole process.
    current = get_configuration().array_maximum_element_count
    with apply_configuration(array_maximum_element_count=max(current, MAX_ARRAY_ELEMENTS)):
        yield


def _open(name: str, stream) -> PdfReader:
    try:
        reader = PdfReader(stream, strict=False)
    except LimitReachedError as exc:
        raise LoadError(name, f"exceeds the PDF reader's safety limits: {_short(exc)}") from exc
    except Exception as exc:
        raise LoadError(name, f"not a valid PDF or damaged: {_short(exc)}") from exc

    if reader.is_encrypted:
        # Many PDFs are "encrypted" with an empty user password only to set permissions
        # (no printing, no copying); any reader opens them, and so do we.
        try:
            decrypted = reader.decrypt("")
        except Exception as exc:  # e.g. an unknown security handler, no AES library
            raise LoadError(
                name, f"encrypted, and the encryption cannot be read here: {_short(exc)}"
            ) from exc
        if not decrypted:  # PasswordType.NOT_DECRYPTED == 0
            raise LoadError(name, ENCRYPTED_REASON)
    return reader


def _page_count(name: str, reader: PdfReader) -> int:
    try:
        count = len(reader.pages)
    except LimitReachedError as exc:
        raise LoadError(name, f"exceeds the PDF reader's safety limits: {_short(exc)}") from exc
    except Exception as exc:
        raise LoadError(name, f"not a valid PDF or damaged: {_short(exc)}") from exc
    if count == 0:
        raise LoadError(name, "not a valid PDF or damaged: it has no pages")
    return count


def _outline_headings(reader: PdfReader, page_count: int) -> list[tuple[str, ...]] | None:
    """The bookmark path in force on each page, or None when there is no usable outline.

    A page where bookmarks start gets the first of them (refined to its children that
    start on the same page: "Part I > Item 1 > Balance Sheets"); a page where none
    starts inherits the last bookmark before it.
    """
    try:
        starts: dict[int, list[tuple[str, ...]]] = {}

        def visit(items: list, parents: tuple[str, ...], depth: int) -> None:
            last: str | None = None
            for item in items:
                if isinstance(item, list):  # the children of the item before
                    if last and depth < _MAX_OUTLINE_DEPTH:
                        visit(item, (*parents, last), depth + 1)
                    continue
                last = " ".join(scrub(str(getattr(item, "title", "") or "")).split())
                page = reader.get_destination_page_number(item)
                if last and isinstance(page, int) and 0 <= page < page_count:
                    starts.setdefault(page, []).append((*parents, last))

        visit(reader.outline, (), 0)
    except Exception:  # bookmarks are a bonus; a broken outline must not fail the file
        return None
    if not starts:
        return None

    headings: list[tuple[str, ...]] = []
    current: tuple[str, ...] = ()
    for index in range(page_count):
        paths = starts.get(index)
        if not paths:
            headings.append(current)
            continue
        chosen = paths[0]
        for path in paths[1:]:
            if path[: len(chosen)] != chosen:
                break
            chosen = path
        headings.append(chosen)
        current = paths[-1]
    return headings


def _metadata(reader: PdfReader) -> tuple[str | None, dict[str, str]]:
    try:
        info = reader.metadata
        if not info:
            return None, {}
        fields = {
            "author": info.author,
            "subject": info.subject,
            "creator": info.creator,
            "producer": info.producer,
        }
        metadata = {
            key: " ".join(scrub(value).split())
            for key, value in fields.items()
            if isinstance(value, str) and value.strip()
        }
        return meaningful_title(info.title), metadata
    except Exception:  # metadata is optional; damaged metadata is not a damaged document
        return None, {}


def _short(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
