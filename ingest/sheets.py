"""Spreadsheets (.xlsx) and delimited text (.csv): one block of rows per section.

A row becomes a line that names each value by its column's header ("Region: North; Q3
revenue: 1.2 M", see labelled_rows), so a passage never holds bare cells. Rows are
grouped into sections of about one passage each, headed by the sheet's name and the row
numbers they hold ("Budget > rows 2-18"), which is what a citation shows; a passage is
cut between rows, never inside one.

Workbooks are read with openpyxl in read-only mode and with cached values, not formulas
(a formula nobody has calculated yet, as in a file written by a script, reads empty).
Both readers stream rows, and a sheet is bounded: rows past MAX_ROWS and columns past
MAX_COLUMNS are not read, and a run of MAX_EMPTY_RUN empty rows ends the sheet (a sheet
"used" down to its millionth row reads in a fraction of a second); each cut is a warning.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

from ._common import cell_text, check_zip, label_row, meaningful_title, scrub, short, split_table
from .types import LoadError, ParsedDocument, Section

MAX_ROWS = 100_000  # per sheet
MAX_COLUMNS = 200
MAX_EMPTY_RUN = 10_000
BLOCK_CHARS = 900  # rows per section: about one passage of 254 tokens
_ENCODINGS = ("utf-8-sig", "cp1252")  # cp1252 is what Excel writes on Western Windows
_DELIMITERS = ",;\t|"


def load_xlsx(path: str | Path) -> ParsedDocument:
    from openpyxl import load_workbook

    path = Path(path)
    check_zip(path, "XLSX", "; an old .xls file must be saved as .xlsx first")
    try:
        book = load_workbook(str(path), read_only=True, data_only=True)
    except Exception as exc:  # not a workbook, encrypted, malformed XML, ...
        raise LoadError(str(path), f"not a valid XLSX or damaged: {short(exc)}") from exc
    sections: list[Section] = []
    warnings: list[str] = []
    try:
        for sheet in book.worksheets:
            rows = (row for row in sheet.iter_rows(values_only=True))
            name = " ".join(scrub(sheet.title).split()) or "Sheet"
            sections += _sheet_sections(name, rows, warnings)
        title = meaningful_title(book.properties.title) or path.stem
    finally:
        book.close()
    return ParsedDocument(
        path=str(path),
        title=title,
        format="xlsx",
        sections=tuple(sections),
        warnings=tuple(warnings),
    )


def load_csv(path: str | Path) -> ParsedDocument:
    path = Path(path)
    encoding = _encoding(path)
    warnings: list[str] = []
    # errors="replace": a stray byte past the sniffed first megabyte costs one character.
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        sample = handle.read(64 * 1024)
        handle.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
        except csv.Error:  # one column, or too irregular to tell: commas it is
            dialect = csv.excel
        # A field may hold a whole document; the csv module's default cap is 128 KB.
        csv.field_size_limit(16 * 1024 * 1024)
        try:
            # No sheet name: the file is the one table, and its name is already the title.
            sections = _sheet_sections(None, csv.reader(handle, dialect), warnings)
        except csv.Error as exc:
            raise LoadError(str(path), f"not a valid CSV: {short(exc)}") from exc
    return ParsedDocument(
        path=str(path),
        title=path.stem,
        format="csv",
        sections=tuple(sections),
        warnings=tuple(warnings),
    )


def _encoding(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(1024 * 1024)
    for encoding in _ENCODINGS:
        try:
            head.decode(encoding)
            return encoding
        except UnicodeDecodeError as exc:
            if exc.start > len(head) - 4:  # a character cut by the 1 MB sample
                return encoding
    return "latin-1"  # reads any bytes


def _value(value: object) -> str:
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        value = value.date()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return cell_text(value)


def _bounded_rows(
    name: str, rows: Iterable[Iterable], warnings: list[str]
) -> Iterator[tuple[int, list[str]]]:
    """(row number, cell texts) of a sheet's non-empty rows, within the limits."""
    empty_run = 0
    wide = False
    for number, row in enumerate(rows, start=1):
        if number > MAX_ROWS:
            warnings.append(f"{name}: only the first {MAX_ROWS:,} rows were read")
            return
        cells = [_value(v) for v in itertools.islice(row, MAX_COLUMNS + 1)]
        if len(cells) > MAX_COLUMNS:
            cells = cells[:MAX_COLUMNS]
            wide = True
        if not any(cells):
            empty_run += 1
            if empty_run >= MAX_EMPTY_RUN:
                warnings.append(
                    f"{name}: {MAX_EMPTY_RUN:,} empty rows in a row from row "
                    f"{number - MAX_EMPTY_RUN + 1:,}; the rest of the sheet was not read"
                )
                break
            continue
        empty_run = 0
        yield number, cells
    if wide:
        warnings.append(f"{name}: only the first {MAX_COLUMNS} columns were read")


def _sheet_sections(
    name: str | None, rows: Iterable[Iterable], warnings: list[str]
) -> list[Section]:
    numbered = list(_bounded_rows(name or "the table", rows, warnings))
    captions, header, _ = split_table([cells for _, cells in numbered])
    skip = len(captions) + (header is not None)
    block = list(captions)
    if header is not None:
        block.append(" | ".join(cell for cell in header if cell))
    sections: list[Section] = []
    first = last = numbered[0][0] if numbered else 0
    size = sum(len(line) for line in block)
    for number, cells in numbered[skip:]:
        line = label_row(header, cells)
        if block and size + len(line) > BLOCK_CHARS:
            sections.append(_section(name, block, first, last))
            block, size, first = [], 0, number
        block.append(line)
        size += len(line)
        last = number
    if block:
        sections.append(_section(name, block, first, last))
    return sections


def _section(name: str | None, lines: list[str], first: int, last: int) -> Section:
    rows = f"row {first}" if first == last else f"rows {first}-{last}"
    heading = (name, rows) if name else (rows,)
    return Section(text="\n\n".join(lines), page=None, heading=heading)
