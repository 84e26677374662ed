"""Helpers shared by the loaders: text scrubbing, heading paths, titles.

Private to the package: loaders import from here, callers never do.
"""

from __future__ import annotations

import re
import zipfile

from .types import LoadError, Section

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


# Office files (.docx, .pptx, .xlsx) are zips whose parts their libraries inflate in
# memory. The parts' declared sizes bound what zipfile will inflate, so checking them
# first stops zip bombs cheaply.
MAX_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024
_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")


def check_zip(path, kind: str, hint: str = "") -> None:
    """Raise LoadError unless `path` is a zip whose parts inflate to a bounded size."""
    with open(path, "rb") as handle:
        magic = handle.read(8)
    if magic == _OLE_MAGIC:
        # Office saves a password-protected file, and the old binary formats, as an OLE
        # compound file instead of a zip.
        raise LoadError(
            str(path),
            f"password-protected, or an old binary Office file: open it in Office, remove "
            f"the password (or save it as .{kind.lower()}) and ingest it again",
        )
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise LoadError(
            str(path), f"not a valid {kind} or damaged (not a zip package{hint}): {short(exc)}"
        ) from exc
    if declared > MAX_UNCOMPRESSED_BYTES:
        raise LoadError(
            str(path),
            f"too large: the {kind} inflates to {declared // 2**20} MB "
            f"(limit {MAX_UNCOMPRESSED_BYTES // 2**20} MB)",
        )


def short(exc: BaseException) -> str:
    """An exception as one line of at most 200 characters, for a LoadError's reason."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def cell_text(value: object) -> str:
    """A table cell or spreadsheet value as one line of text ("" for nothing)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(scrub(str(value)).split())


def labelled_rows(rows: list[list[str]], header_must_name: bool = False) -> list[str]:
    """A table's rows as lines that carry their header: "Region: North; Q3: 1.2 M".

    The first row with any text is the header (after any caption rows, see split_table).
    Every later row names each value with its column's header, so a passage cut between
    rows still says what each number is, and a row is never read as bare cells. A table
    of one row (or only a header) is returned as "a | b | c". With `header_must_name`,
    a first row that is mostly amounts is no header (see looks_like_header): a table
    found on a PDF page often starts below its column titles.
    """
    captions, header, body = split_table([row for row in rows if any(row)])
    if header is not None and header_must_name and not looks_like_header(header):
        body = [header, *body]
        header = None
    lines = list(captions)
    if header is not None:
        lines.append(" | ".join(cell for cell in header if cell))
    return lines + [label_row(header, row) for row in body]


def split_table(rows: list[list[str]]) -> tuple[list[str], list[str] | None, list[list[str]]]:
    """(caption lines, header row or None, body rows) of a table's non-empty rows.

    A first row with one cell over a wider table is a caption, not a header. Without
    at least one row under it, there is no header: the rows are the body, unlabelled.
    """
    rows = list(rows)
    captions = []
    while len(rows) > 1 and _filled(rows[0]) == 1 < max(_filled(row) for row in rows[1:]):
        captions.append(next(cell for cell in rows.pop(0) if cell))
    if len(rows) < 2:
        return captions, None, rows
    return captions, rows[0], rows[1:]


def label_row(header: list[str] | None, row: list[str]) -> str:
    """One row as "Header: value; ...", empty cells left out ("a | b" without a header);
    a cell under no header is named "Column N"."""
    if header is None:
        return " | ".join(cell for cell in row if cell)
    pairs = []
    for i, cell in enumerate(row):
        if cell:
            name = header[i] if i < len(header) and header[i] else f"Column {i + 1}"
            pairs.append(f"{name}: {cell}")
    return "; ".join(pairs)


_AMOUNT = re.compile(r"^[(\-−–]?[$€£¥]?\s?[\d.,]+\s?[)%]*$")
_YEAR = re.compile(r"^(19|20)\d\d$")


def looks_like_header(row: list[str]) -> bool:
    """A header names columns: fewer than half its cells are amounts (years are names)."""
    filled = [cell for cell in row if cell]
    amounts = [cell for cell in filled if _AMOUNT.match(cell) and not _YEAR.match(cell)]
    return len(filled) >= 2 and len(amounts) * 2 < len(filled)


def _filled(row: list[str]) -> int:
    return sum(1 for cell in row if cell)


def office_metadata(props) -> dict[str, str]:
    """The author, subject and keywords an Office file's core properties hold, if any."""
    found = (("author", props.author), ("subject", props.subject), ("keywords", props.keywords))
    return {key: value.strip() for key, value in found if isinstance(value, str) and value.strip()}
