"""Ruled tables in PDF pages, written row by row the way DOCX tables are.

PDFium gives a page's text line by line: a table row stays on one line, but nothing says
which lines are a table, so a passage can be cut inside a row and the rows below a cut
lose their header. pdfplumber (on pdfminer.six) finds tables from the lines and boxes
drawn around their cells; each table found becomes one paragraph per row, labelled with
its header row ("Model: Panel Pro 60; Price (EUR): 249") when it has one, so the chunker
cuts only between rows and every row still says what its numbers are.

pdfplumber is pure Python and slow (0.3-0.6 s a page of a 10-Q filing, PDFium reads 116
pages a second), so it reads only pages where PDFium counts enough drawn paths to rule a
table, and stops for the file after a time budget. A page it fails on keeps PDFium's text.
"""

from __future__ import annotations

import time
from pathlib import Path

from ._common import cell_text, labelled_rows, looks_like_header

__all__ = ["clean_rows", "find_tables", "looks_like_header", "table_text"]

try:
    import pdfplumber
except ImportError:  # pragma: no cover - a dependency; without it pages keep PDFium's text
    pdfplumber = None

# A ruled table of two rows and two columns draws at least three lines each way, or one
# box per cell; fewer path objects than this on a page cannot make one.
MIN_PATHS = 4
# Past this many path objects a page is a drawing or a chart, not a table worth the time.
MAX_PATHS = 5_000
# Seconds of table finding a file may use; the rest of its pages keep PDFium's text.
FILE_BUDGET_SECONDS = 60.0

_CURRENCY = {"$", "€", "£", "¥", "US$"}
_CLOSERS = {")", "%", ")%", "%)"}


def find_tables(path: Path, pages: list[int], warnings: list[str]) -> dict[int, str]:
    """The text of each listed page (1-based) that holds a table: the text around the
    tables as pdfplumber reads it, each table as one paragraph per row, in top-to-bottom
    order. Pages without a table are left out (they keep PDFium's text)."""
    if pdfplumber is None or not pages:
        return {}
    found: dict[int, str] = {}
    started = time.monotonic()
    try:
        with pdfplumber.open(str(path)) as pdf:
            for done, number in enumerate(pages):
                if time.monotonic() - started > FILE_BUDGET_SECONDS:
                    rest = len(pages) - done
                    warnings.append(
                        f"tables were looked for on {done} pages only: {rest} more pages "
                        f"kept plain text (time budget {FILE_BUDGET_SECONDS:.0f} s a file)"
                    )
                    break
                page = pdf.pages[number - 1]
                try:
                    text = _page_with_tables(page)
                except Exception:  # noqa: BLE001 - a table is a bonus; the page keeps its text
                    text = None
                finally:
                    page.close()
                if text:
                    found[number] = text
    except Exception:  # noqa: BLE001 - pdfminer cannot open what PDFium read: plain text
        pass
    return found


def _page_with_tables(page) -> str | None:
    tables = []
    for table in page.find_tables():
        rows = clean_rows(table.extract())
        if len(rows) >= 2 and max(len(row) for row in rows) >= 2:
            tables.append((table.bbox, rows))
    if not tables:
        return None
    tables.sort(key=lambda item: item[0][1])
    boxes = [bbox for bbox, _ in tables]
    x0, top, x1, bottom = page.bbox
    parts: list[str] = []
    cursor = top
    for (_, t_top, _, t_bottom), rows in tables:
        if t_top > cursor:
            parts.append(_text(page, (x0, cursor, x1, t_top), boxes))
        parts.append(table_text(rows))
        # Text beside the table, in its band (a note in the margin), follows it.
        if t_bottom > cursor:
            parts.append(_text(page, (x0, max(t_top, cursor), x1, t_bottom), boxes))
        cursor = max(cursor, t_bottom)
    if cursor < bottom:
        parts.append(_text(page, (x0, cursor, x1, bottom), boxes))
    return "\n\n".join(part for part in parts if part.strip())


def _text(page, band, tables) -> str:
    """The text whose characters sit (by their centre) in `band` and in no table: each
    character lands in exactly one band, so nothing is read twice or lost at a cut."""
    region = page.filter(
        lambda obj: _inside(obj, band) and not any(_inside(obj, box) for box in tables)
    )
    return region.extract_text() or ""


def _inside(obj: dict, bbox) -> bool:
    if "x0" not in obj or "top" not in obj:
        return False
    mid_x = (obj["x0"] + obj["x1"]) / 2
    mid_y = (obj["top"] + obj["bottom"]) / 2
    return bbox[0] <= mid_x <= bbox[2] and bbox[1] <= mid_y < bbox[3]


def clean_rows(rows: list[list[str | None]]) -> list[list[str]]:
    """Cells as one line each, a lone currency sign joined to the amount after it and a
    lone ")" or "%" to the one before (financial tables draw them in cells of their own),
    and rows and columns with no text dropped."""
    cleaned = []
    for raw in rows:
        cells = [cell_text(cell) for cell in raw]
        merged: list[str] = []
        carry = ""
        for cell in cells:
            if cell in _CURRENCY:
                carry = cell
                merged.append("")
                continue
            if cell in _CLOSERS and merged:
                last = max((i for i, c in enumerate(merged) if c), default=None)
                if last is not None:
                    merged[last] += cell
                    merged.append("")
                    continue
            merged.append(f"{carry}{cell}" if carry and cell else cell)
            carry = ""
        cleaned.append(merged)
    width = max((len(row) for row in cleaned), default=0)
    used = [i for i in range(width) if any(i < len(row) and row[i] for row in cleaned)]
    table = [[row[i] if i < len(row) else "" for i in used] for row in cleaned]
    return [row for row in table if any(row)]


def table_text(rows: list[list[str]]) -> str:
    """A table as one paragraph per row: labelled by the header row when the first row
    reads as one (words, not amounts), else its cells joined by " | "."""
    return "\n\n".join(labelled_rows(rows, header_must_name=True))
