"""Word documents (.docx): paragraphs and tables in reading order, one section per heading.

Named "office" so it does not shadow python-docx's own `docx` package.

python-docx's `document.paragraphs` and `document.tables` are two separate lists, which
would move every table to the end of the text; walking the body's XML children keeps
them where the author put them. Headings come from the paragraph style ("Title",
"Heading N") or, for custom and localized styles, from the outline level Word stores on
the paragraph or its style.
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph

from ._common import (
    SectionBuilder,
    check_zip,
    labelled_rows,
    meaningful_title,
    office_metadata,
    short,
)
from .types import LoadError, ParsedDocument

_TITLE_LEVEL = 0  # "Title" sits above "Heading 1"
_MAX_STYLE_CHAIN = 20  # styles inherit from styles; a cycle must not loop forever


def load_docx(path: str | Path) -> ParsedDocument:
    path = Path(path)
    check_zip(path, "DOCX", "; an old .doc file must be saved as .docx first")
    try:
        document = Document(str(path))
    except KeyError as exc:  # a part the package needs is missing from the zip
        raise LoadError(str(path), f"not a valid DOCX or damaged: missing part {exc}") from exc
    except Exception as exc:  # not a package, not a Word file, malformed XML, ...
        raise LoadError(str(path), f"not a valid DOCX or damaged: {short(exc)}") from exc

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
                # Each row its own paragraph, named by the header: a passage is cut
                # between rows, never inside one, and every row says what its cells are.
                for row in labelled_rows(_table_cells(child)):
                    builder.add("")
                    builder.add(row)
                builder.add("")
            elif child.tag == sdt_tag:
                # Content controls (e.g. a cover page or a table of contents) wrap
                # ordinary paragraphs and tables.
                for content in child.iterchildren(qn("w:sdtContent")):
                    walk(content)

    walk(document.element.body)

    props = document.core_properties
    metadata = office_metadata(props)
    title = meaningful_title(props.title) or meaningful_title(title_paragraph) or path.stem
    return ParsedDocument(
        path=str(path),
        title=title,
        format="docx",
        sections=builder.build(),
        metadata=metadata,
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


def _table_cells(tbl) -> list[list[str]]:
    """Each row's cells as text.

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
            # A cell merged across columns leaves those columns empty, so the cells
            # after it stay under their own headers.
            span = tc.xpath("./w:tcPr/w:gridSpan/@w:val")
            if span and str(span[0]).isdigit():
                cells.extend([""] * (min(int(span[0]), 64) - 1))
        rows.append(cells)
    return rows
