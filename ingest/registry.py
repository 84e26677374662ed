"""`load(path)`: pick the loader for a file by its suffix, and make every failure a LoadError.

Callers ingest folders of arbitrary files; one bad file must never stop the run. So
whatever a loader raises reaches the caller as a LoadError naming the file and the
reason, and an unsupported type is an UnsupportedFormatError (a LoadError too, which
callers may choose to skip silently).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .html import load_html
from .images import load_image
from .mail import load_eml, load_mbox
from .markdown import load_markdown
from .office import load_docx
from .pdf import load_pdf
from .sheets import load_csv, load_xlsx
from .slides import load_pptx
from .text import load_text
from .types import LoadError, ParsedDocument, UnsupportedFormatError

LOADERS: dict[str, Callable[[Path], ParsedDocument]] = {
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".txt": load_text,
    ".text": load_text,
    # reStructuredText reads fine as plain text; its headings are not parsed.
    ".rst": load_text,
    ".pptx": load_pptx,
    ".xlsx": load_xlsx,
    ".csv": load_csv,
    ".eml": load_eml,
    ".mbox": load_mbox,
    # Read by OCR (ingest.ocr); without Tesseract each is reported with the fix.
    ".png": load_image,
    ".jpg": load_image,
    ".jpeg": load_image,
    ".tif": load_image,
    ".tiff": load_image,
}
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(sorted(LOADERS))

# Loaders hold a file's text (and for PDF/DOCX, its parsed objects) in memory at once;
# a file bigger than this is refused up front instead of exhausting memory mid-run.
DEFAULT_MAX_BYTES = 200 * 1024 * 1024


def load(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedDocument:
    """Parse one file into a ParsedDocument.

    Raises LoadError (or its subclass UnsupportedFormatError) and nothing else for any
    problem with the file: missing, unreadable, too large, unsupported, damaged, empty.
    """
    path = Path(path)
    name = str(path)
    suffix = path.suffix.lower()
    loader = LOADERS.get(suffix)
    if loader is None:
        what = f"'{suffix}'" if suffix else "(no extension)"
        raise UnsupportedFormatError(
            name,
            f"unsupported file type {what}: supported types are {', '.join(SUPPORTED_SUFFIXES)}",
        )
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise LoadError(name, "file not found") from None
    except OSError as exc:
        raise LoadError(name, f"cannot read the file: {exc.strerror or exc}") from exc
    if not path.is_file():
        raise LoadError(name, "not a regular file")
    if size > max_bytes:
        raise LoadError(
            name,
            f"too large: {_size(size)} is over the {_size(max_bytes)} limit "
            "(split the file, or raise the size limit)",
        )

    try:
        document = loader(path)
    except LoadError:
        raise
    except OSError as exc:
        raise LoadError(name, f"cannot read the file: {exc.strerror or exc}") from exc
    # Exception covers RecursionError and MemoryError too: a loader bug or a hostile file.
    except Exception as exc:
        message = " ".join(str(exc).split())[:200]
        raise LoadError(
            name, f"could not be parsed ({type(exc).__name__}{': ' + message if message else ''})"
        ) from exc

    if not any(section.text.strip() for section in document.sections):
        raise LoadError(name, "empty: no text found")
    return document


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n} bytes"
