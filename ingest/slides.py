"""PowerPoint decks (.pptx): one section per slide, the slide number as its page.

A slide's title is its heading; its text boxes, tables and speaker notes follow in
reading order. python-pptx lists shapes in drawing order, which is not the order a
reader sees them, so shapes are read top to bottom, then left to right; a group's
shapes are read in place of the group.
"""

from __future__ import annotations

from pathlib import Path

from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE

from ._common import (
    cell_text,
    check_zip,
    labelled_rows,
    meaningful_title,
    office_metadata,
    scrub,
    short,
)
from .types import LoadError, ParsedDocument, Section

_MAX_GROUP_DEPTH = 20  # groups nest; a hostile file must not recurse forever


def load_pptx(path: str | Path) -> ParsedDocument:
    path = Path(path)
    check_zip(path, "PPTX", "; an old .ppt file must be saved as .pptx first")
    try:
        deck = Presentation(str(path))
    except Exception as exc:  # not a package, not a deck, malformed XML, ...
        raise LoadError(str(path), f"not a valid PPTX or damaged: {short(exc)}") from exc

    sections = []
    first_title = None
    for number, slide in enumerate(deck.slides, start=1):
        title_shape = slide.shapes.title
        title = " ".join(scrub(title_shape.text_frame.text).split()) if title_shape else ""
        first_title = first_title or title or None
        blocks = [title] if title else []
        for shape in _reading_order(slide.shapes, 0):
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            blocks.extend(_shape_blocks(shape))
        notes = _notes(slide)
        if notes:
            blocks.append(f"Notes: {notes}")
        text = scrub("\n\n".join(b for b in blocks if b.strip())).strip()
        if text:
            heading = (title,) if title else (f"Slide {number}",)
            sections.append(Section(text=text, page=number, heading=heading))

    props = deck.core_properties
    metadata = office_metadata(props)
    title = meaningful_title(props.title) or meaningful_title(first_title) or path.stem
    return ParsedDocument(
        path=str(path),
        title=title,
        format="pptx",
        sections=tuple(sections),
        page_count=len(deck.slides),
        metadata=metadata,
    )


def _reading_order(shapes, depth: int) -> list:
    """Shapes top to bottom, then left to right; groups opened in place."""
    if depth > _MAX_GROUP_DEPTH:
        return []
    # Quarter-inch bands (228,600 EMU): boxes side by side read left to right even when
    # their tops differ a little.
    ordered = sorted(shapes, key=lambda s: ((s.top or 0) // 228_600, s.left or 0))
    out = []
    for shape in ordered:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            out.extend(_reading_order(shape.shapes, depth + 1))
        else:
            out.append(shape)
    return out


def _shape_blocks(shape) -> list[str]:
    """A shape's text: a text frame's paragraphs as lines, a table's rows as paragraphs."""
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [[cell_text(cell.text) for cell in row.cells] for row in shape.table.rows]
        return labelled_rows(rows)
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        lines = [" ".join(p.text.split()) for p in shape.text_frame.paragraphs]
        text = "\n".join(line for line in lines if line)
        return [text] if text else []
    return []


def _notes(slide) -> str:
    if not slide.has_notes_slide:
        return ""
    frame = slide.notes_slide.notes_text_frame
    return " ".join(scrub(frame.text).split()) if frame is not None else ""
