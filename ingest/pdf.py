"""PDF: one section per page (1-based page numbers), headed by the PDF's bookmarks.

Two readers, the fast one first:
- PDFium (pypdfium2, Chrome's PDF engine in C) reads the pages, bookmarks and metadata.
  On the sec10q filings it is 19x faster than pypdf per page and reads the same words
  (mean in-order word similarity 0.999 over 1,035 pages; scripts/pdf_readers.py).
- pypdf (pure Python) reads whatever PDFium cannot: a file PDFium fails to open (an
  AES-256 file whose owner password is empty, a file pypdf repairs better), a page PDFium
  fails on, and a file where PDFium finds no text at all. When both fail, the messages are
  pypdf's, as they were when pypdf was the only reader.

Every exception is caught at the narrowest useful place:
- opening the file or reading its page tree fails -> LoadError for the file;
- one page fails -> a warning names the page, and the other pages still load;
- the bookmarks (outline) fail -> pages simply get no heading.
PDFium is not safe to call from two threads at once, so one lock serialises its use.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import LimitReachedError

from . import ocr, pdf_tables
from ._common import meaningful_title, scrub
from .images import OCR_HEADING, normalise_ocr
from .types import LoadError, ParsedDocument, Section

try:  # recent pypdf (7.x here): limits live in a context-local Configuration
    from pypdf import apply_configuration, get_configuration
except ImportError:  # older pypdf: no Configuration to adjust, its own defaults apply
    apply_configuration = get_configuration = None

try:  # a dependency of the project; without it every file is read with pypdf
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c
except ImportError:  # pragma: no cover - only a broken install lacks it
    pdfium = pdfium_c = None

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
NO_TEXT_REASON = "no extractable text: the PDF has no text layer (scanned?)"
# A page with fewer characters of text than this is taken for a scan (a stamped page
# number or a scanner's header is all such a page has) and read by OCR.
MIN_TEXT_LAYER_CHARS = 20

_CONTROL = re.compile(r"[\x01-\x08\x0b\x0e-\x1f\x7f]")  # not \t \n \x0c (a page break)
_HSPACE = re.compile(r"[^\S\n]+")  # any whitespace run but newlines
_BLANK_LINES = re.compile(r"\n{3,}")
_MAX_OUTLINE_DEPTH = 50
_PDFIUM_LOCK = threading.Lock()


@dataclass
class _Pages:
    """What a reader got out of a file: each page's raw text, or why the page failed."""

    texts: list[str | BaseException]
    headings: list[tuple[str, ...]] | None
    title: str | None
    metadata: dict[str, str]
    ruled: list[int] = field(default_factory=list)  # 1-based pages that may hold a table


def load_pdf(path: str | Path) -> ParsedDocument:
    path = Path(path)
    name = str(path)
    pages = _read_with_pdfium(path) if pdfium is not None else None
    if pages is None:
        pages = _read_with_pypdf(name, path)
    return _document(name, path, pages)


def _document(name: str, path: Path, pages: _Pages) -> ParsedDocument:
    sections: list[Section] = []
    warnings: list[str] = []
    tables = pdf_tables.find_tables(path, pages.ruled, warnings)
    unreadable: list[str] = []
    scanned: list[tuple[int, tuple[str, ...], str]] = []  # (page, heading, its few words)
    for index, raw in enumerate(pages.texts):
        number = index + 1
        if isinstance(raw, BaseException):
            unreadable.append(f"page {number}: {_short(raw)}")
            warnings.append(f"page {number} could not be read ({_short(raw)}): text skipped")
            continue
        text = normalise(tables.get(number, raw))
        heading = pages.headings[index] if pages.headings else ()
        if len(text) < MIN_TEXT_LAYER_CHARS:
            scanned.append((number, heading, text))
            continue
        sections.append(Section(text=text, page=number, heading=heading))
    if scanned:
        sections = sorted(
            sections + _ocr_sections(path, scanned, warnings), key=lambda s: s.page or 0
        )

    if not sections:
        if len(unreadable) == len(pages.texts):
            reason = f"not a valid PDF or damaged: no page could be read ({unreadable[0]})"
            raise LoadError(name, reason)
        if unreadable:
            raise LoadError(
                name,
                f"{NO_TEXT_REASON}; also {len(unreadable)} page(s) could not be read "
                f"({unreadable[0]})",
            )
        why = next((w for w in warnings if "no text layer" in w), "")
        raise LoadError(name, f"{NO_TEXT_REASON}{': ' + why.split(': ', 1)[-1] if why else ''}")
    return ParsedDocument(
        path=name,
        title=pages.title or path.stem,
        format="pdf",
        sections=tuple(sections),
        page_count=len(pages.texts),
        metadata=pages.metadata,
        warnings=tuple(warnings),
    )


# -- OCR of pages without a text layer ---------------------------------------------------


def _ocr_sections(
    path: Path, scanned: list[tuple[int, tuple[str, ...], str]], warnings: list[str]
) -> list[Section]:
    """Sections for pages with no usable text layer, read by OCR from PDFium's rendering.

    A page keeps its own few words (a stamped page number) when OCR is unavailable or
    finds less; every page it cannot read is a warning that says why.
    """
    problem = ocr.available() if pdfium is not None else "PDFium (pypdfium2) is missing"
    sections = []
    read = []
    with _renderer(path) if problem is None else nullcontext() as render:
        for number, heading, own in scanned:
            text, why = "", problem
            if render is not None:
                try:
                    image = render(number)
                    if image is None:
                        why = "no image to read either (a blank page?)"
                    else:
                        text = normalise_ocr(ocr.image_text(image))
                        why = "OCR found no text in it"
                except (ocr.OcrFailed, _RenderFailed) as exc:
                    why = str(exc)
            if not own and not text:
                warnings.append(f"page {number} has no text layer (scanned?): {why}")
            if len(text) > len(own):
                sections.append(Section(text=text, page=number, heading=(*heading, OCR_HEADING)))
                read.append(number)
            elif own:
                sections.append(Section(text=own, page=number, heading=heading))
    if read:
        warnings.append(f"{_pages_text(read)} read by OCR ({ocr.languages()})")
    return sections


class _RenderFailed(Exception):
    pass


@contextmanager
def _renderer(path: Path) -> Iterator:
    """A function that renders page N (1-based) of the file for OCR, from one opening of
    it: a greyscale PIL image at ocr.RENDER_DPI, or None for a page without images (a
    blank or divider page: nothing for OCR to find). PDFium is locked only while it
    works, not while Tesseract reads the image."""
    with _PDFIUM_LOCK:
        try:
            doc, opening = pdfium.PdfDocument(str(path)), None
        except Exception as exc:
            doc, opening = None, exc

    def render(number: int):
        if doc is None:
            raise _RenderFailed(f"it could not be rendered for OCR ({_short(opening)})")
        with _PDFIUM_LOCK:
            try:
                page = doc[number - 1]
                try:
                    images = page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=5)
                    if next(iter(images), None) is None:
                        return None
                    # A poster-sized page would make a gigapixel bitmap: cap what is rendered.
                    width, height = page.get_size()  # in points, 72 to the inch
                    limit = (ocr.MAX_PIXELS / max(width * height, 1)) ** 0.5
                    bitmap = page.render(scale=min(ocr.RENDER_DPI / 72, limit), grayscale=True)
                    return bitmap.to_pil()
                finally:
                    page.close()
            except Exception as exc:
                raise _RenderFailed(f"it could not be rendered for OCR ({_short(exc)})") from exc

    try:
        yield render
    finally:
        if doc is not None:
            with _PDFIUM_LOCK:
                doc.close()


def _pages_text(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"page {numbers[0]}"
    listed = ", ".join(map(str, numbers[:10])) + (", ..." if len(numbers) > 10 else "")
    return f"{len(numbers)} pages ({listed})"


# -- PDFium -------------------------------------------------------------------------------


def _read_with_pdfium(path: Path) -> _Pages | None:
    """The file read by PDFium, its failed pages retried with pypdf; None to use pypdf."""
    with _PDFIUM_LOCK:
        try:
            doc = pdfium.PdfDocument(str(path))
        except Exception:  # a password, damage PDFium cannot repair: pypdf decides
            return None
        try:
            count = len(doc)
            if count == 0:
                return None
            texts = [_pdfium_page_text(doc, index) for index in range(count)]
            ruled = [i + 1 for i in range(count) if _may_hold_table(doc, i)]
            if not any(isinstance(t, str) and t.strip() for t in texts):
                return None  # no text at all: pypdf may still find some, or say why not
            headings = _pdfium_headings(doc, count)
            title, metadata = _pdfium_metadata(doc)
        finally:
            doc.close()
    failed = [i for i, t in enumerate(texts) if isinstance(t, BaseException)]
    if failed:
        _retry_with_pypdf(path, texts, failed)
    return _Pages(texts, headings, title, metadata, ruled)


def _may_hold_table(doc, index: int) -> bool:
    """Whether the page draws enough paths (lines, boxes) to rule a table: the cheap
    test that keeps the slow table finder off pages of plain text."""
    try:
        page = doc[index]
        try:
            count = _count_paths(page.raw, pdf_tables.MAX_PATHS + 1)
        finally:
            page.close()
    except Exception:  # noqa: BLE001 - no table search on a page PDFium cannot walk
        return False
    return pdf_tables.MIN_PATHS <= count <= pdf_tables.MAX_PATHS


def _count_paths(page, limit: int) -> int:
    """Path objects on a page, inside form objects too (3 deep), counted up to `limit`.

    Raw PDFium calls: pypdfium2's get_objects() wraps every object of the page in a
    Python object first, which made this test 3 times slower than reading the text
    (28 s against 10 s over sec10q's 1,037 pages; 7 s this way, loading the page included).
    """
    count = 0
    stack = [(pdfium_c.FPDFPage_CountObjects(page), pdfium_c.FPDFPage_GetObject, page, 1)]
    while stack:
        total, get, owner, depth = stack.pop()
        for i in range(total):
            obj = get(owner, i)
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            if kind == pdfium_c.FPDF_PAGEOBJ_PATH:
                count += 1
                if count >= limit:
                    return count
            elif kind == pdfium_c.FPDF_PAGEOBJ_FORM and depth < 3:
                inner = pdfium_c.FPDFFormObj_CountObjects(obj)
                stack.append((inner, pdfium_c.FPDFFormObj_GetObject, obj, depth + 1))
    return count


def _pdfium_page_text(doc, index: int) -> str | BaseException:
    try:
        page = doc[index]
        try:
            textpage = page.get_textpage()
            try:
                # PDFium marks a hyphen it took for a line-end break with U+FFFE and
                # drops the break; the hyphen is what the page shows ("one-time").
                return textpage.get_text_range().replace("\ufffe", "-")
            finally:
                textpage.close()
        finally:
            page.close()
    except Exception as exc:  # any failure on one page must not cost the others
        return exc


def _retry_with_pypdf(path: Path, texts: list[str | BaseException], failed: list[int]) -> None:
    """Read the pages PDFium failed on with pypdf; where pypdf fails too, keep its error."""
    try:
        with _limits(), open(path, "rb") as stream:
            reader = _open(str(path), stream)
            for index in failed:
                try:
                    texts[index] = reader.pages[index].extract_text() or ""
                except Exception as exc:
                    texts[index] = exc
    except Exception:  # pypdf cannot open it: the pages keep PDFium's errors
        return


def _pdfium_headings(doc, page_count: int) -> list[tuple[str, ...]] | None:
    """As _outline_headings, from PDFium's bookmarks (depth-first, each with its level)."""
    try:
        starts: dict[int, list[tuple[str, ...]]] = {}
        path: list[str] = []
        for bookmark in doc.get_toc(max_depth=_MAX_OUTLINE_DEPTH):
            del path[bookmark.level :]
            if len(path) < bookmark.level:
                continue  # under a bookmark without a title: skipped with it, as in pypdf
            title = " ".join(scrub(bookmark.get_title() or "").split())
            if not title:
                continue
            path.append(title)
            page = _pdfium_bookmark_page(doc, bookmark)
            if page is not None and 0 <= page < page_count:
                starts.setdefault(page, []).append(tuple(path))
    except Exception:  # bookmarks are a bonus; a broken outline must not fail the file
        return None
    return _headings_per_page(starts, page_count)


def _pdfium_bookmark_page(doc, bookmark) -> int | None:
    """The 0-based page a bookmark points at, by its /Dest or its GoTo action."""
    dest = pdfium_c.FPDFBookmark_GetDest(doc, bookmark)
    if not dest:
        action = pdfium_c.FPDFBookmark_GetAction(bookmark)
        if not action or pdfium_c.FPDFAction_GetType(action) != pdfium_c.PDFACTION_GOTO:
            return None
        dest = pdfium_c.FPDFAction_GetDest(doc, action)
        if not dest:
            return None
    index = pdfium_c.FPDFDest_GetDestPageIndex(doc, dest)
    return index if index >= 0 else None


def _pdfium_metadata(doc) -> tuple[str | None, dict[str, str]]:
    try:
        info = doc.get_metadata_dict(skip_empty=True)
        metadata = {
            key.lower(): " ".join(scrub(info[key]).split())
            for key in ("Author", "Subject", "Creator", "Producer")
            if isinstance(info.get(key), str) and info[key].strip()
        }
        return meaningful_title(info.get("Title")), metadata
    except Exception:  # metadata is optional; damaged metadata is not a damaged document
        return None, {}


# -- pypdf --------------------------------------------------------------------------------


def _read_with_pypdf(name: str, path: Path) -> _Pages:
    with _limits(), open(path, "rb") as stream:
        reader = _open(name, stream)
        page_count = _page_count(name, reader)
        headings = _outline_headings(reader, page_count)
        texts: list[str | BaseException] = []
        for index in range(page_count):
            try:
                texts.append(reader.pages[index].extract_text() or "")
            except Exception as exc:  # any failure on one page must not cost the others
                texts.append(exc)
        title, metadata = _metadata(reader)
    return _Pages(texts, headings, title, metadata)


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
    return _headings_per_page(starts, page_count)


def _headings_per_page(
    starts: dict[int, list[tuple[str, ...]]], page_count: int
) -> list[tuple[str, ...]] | None:
    """Each page's heading path, from the bookmark paths that start on each page."""
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
