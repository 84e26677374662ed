"""Word documents (.docx): paragraphs and tables in reading order, one section per heading.

Named "office" so it does not shadow python-docx's own `docx` package.

python-docx's `document.paragraphs` and `document.tables` are two separate lists, which
would move every table to the end of the text; walking the body's XML children keeps
them where the author put them. Headings come from the paragraph style ("Title",
"Heading N") or, for custom and localized styles, from the outline level Word stores on
the paragraph or its style.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from docx import Document
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph

from ._common import SectionBuilder, meaningful_title
from .types import LoadError, ParsedDocument

# A .docx is a zip; python-docx inflates its parts in memory. Their declared sizes bound
# what zipfile will inflate, so checking them first stops zip bombs cheaply.
MAX_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024

_TITLE_LEVEL = 0  # "Title" sits above "Heading 1"
_MAX_STYLE_CHAIN = 20  # styles inherit from styles; a cycle must not loop forever


def load_docx(path: str | Path) -> ParsedDocument:
    path = Path(path)
    _check_zip(path)
    try:
        document = Document(str(path))
    except KeyError as exc:  # a part the package needs is missing from the zip
        raise LoadError(str(path), f"not a valid DOCX or damaged: missing part {exc}") from exc
    except Exception as exc:  # not a package, not a Word file, malformed XML, ...
        raise LoadError(str(path), f"not a valid DOCX or damaged: {_short(exc)}") from exc

    builder = SectionBuilder()
    title_paragraph: str | None = None
    p_tag, tbl_tag, sdt_tag = qn("w:p"), qn("w:tbl"), qn("w:sdt")

    def walk(container) -> None:
        nonlocal title_paragraph
        for child in container.iterchildren():
            if child.tag == p_tag:
                paragraph = Paragraph(child, document)
                text = paragraph.text.strip()
                if not text:
                    continue
                level = _heading_level(paragraph, child)
                if level is None:
                    builder.add(text)
                else:
                    if level == _TITLE_LEVEL and title_paragraph is None:
                        title_paragraph = text
                    builder.heading(level, text)
            elif child.tag == tbl_tag:
                for row in _table_rows(child):
                    builder.add(row)
            elif child.tag == sdt_tag:
                # Content controls (e.g. a cover page or a table of contents) wrap
                # ordinary paragraphs and tables.
                for content in child.iterchildren(qn("w:sdtContent")):
                    walk(content)

    walk(document.element.body)

    props = document.core_properties
    metadata = {
        key: value.strip()
        for key, value in (
            ("author", props.author),
            ("subject", props.subject),
            ("keywords", props.keywords),
        )
        if isinstance(value, str) and value.strip()
    }
    title = meaningful_title(props.title) or meaningful_title(title_paragraph) or path.stem
    return ParsedDocument(
        path=str(path),
        title=title,
        format="docx",
        sections=builder.build(),
        metadata=metadata,
    )


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise LoadError(
            str(path),
            "not a valid DOCX or damaged (not a zip package; an old .doc file must be saved "
            f"as .docx first): {_short(exc)}",
        ) from exc
    if declared > MAX_UNCOMPRESSED_BYTES:
        raise LoadError(
            str(path),
            f"too large: the DOCX inflates to {declared // 2**20} MB "
            f"(limit {MAX_UNCOMPRESSED_BYTES // 2**20} MB)",
        )


def _heading_level(paragraph: Paragraph, element) -> int | None:
    """0 for "Title", N for "Heading N" (or outline level N-1), None for body text."""
    try:
        style = paragraph.style
    except (KeyError, ValueError, AttributeError):
        style = None
    name = (getattr(style, "name", None) or "").strip().lower()
    if name == "title":
        return _TITLE_LEVEL
    if name.startswith("heading "):
        suffix = name.removeprefix("heading ").strip()
        if suffix.isdigit() and 1 <= int(suffix) <= 9:
            return int(suffix)
    # Outline level 0-8 means Heading 1-9 (9 is body text); on the paragraph first, then
    # on its style and the styles that style is based on.
    level = _outline_level(element)
    depth = 0
    while level is None and style is not None and depth < _MAX_STYLE_CHAIN:
        level = _outline_level(style.element)
        style = getattr(style, "base_style", None)
        depth += 1
    return level


def _outline_level(element) -> int | None:
    values = element.xpath("./w:pPr/w:outlineLvl/@w:val")
    if values and str(values[0]).isdigit() and int(values[0]) < 9:
        return int(values[0]) + 1
    return None


def _table_rows(tbl) -> list[str]:
    """Each row as "cell | cell | cell".

    Reads the XML cells directly rather than python-docx's cell grid: a merged cell is
    one <w:tc> here (so it is not repeated), and an inconsistent grid cannot raise.
    Nested tables' text stays inside the cell that holds them.
    """
    rows = []
    for tr in tbl.iterchildren(qn("w:tr")):
        cells = []
        for tc in tr.iterchildren(qn("w:tc")):
            texts = (Paragraph(p, None).text for p in tc.iter(qn("w:p")))
            cells.append(" ".join(" ".join(texts).split()))
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
