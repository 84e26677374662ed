"""Images (.png .jpg .jpeg .tif .tiff): the text in them, read by OCR (see ingest.ocr).

A multi-page TIFF (a fax, a scanner's batch) gives one section per frame, the frame's
number as its page. Every section is headed "text read by OCR", so a source card says
the words came from recognition, not from the file's own text.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageSequence, UnidentifiedImageError

from . import ocr
from ._common import scrub, short
from .types import LoadError, ParsedDocument, Section

OCR_HEADING = "text read by OCR"
MAX_FRAMES = 500
_FORMAT_NAMES = {".jpeg": "jpg", ".tiff": "tif"}  # one name for each spelling


def load_image(path: str | Path) -> ParsedDocument:
    path = Path(path)
    problem = ocr.available()
    if problem:
        raise LoadError(str(path), f"an image is read by OCR, which is not available: {problem}")
    try:
        image = Image.open(path)
    except UnidentifiedImageError as exc:
        raise LoadError(str(path), "not a readable image or damaged") from exc
    except Image.DecompressionBombError as exc:
        raise LoadError(str(path), f"too large to read safely: {short(exc)}") from exc
    sections, warnings = [], []
    frames = 0
    with image:
        for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
            if number > MAX_FRAMES:
                warnings.append(f"only the first {MAX_FRAMES} pages were read")
                break
            frames = number
            try:
                text = normalise_ocr(ocr.image_text(frame))
            except ocr.OcrFailed as exc:
                warnings.append(f"page {number}: {exc}")
                continue
            if text:
                sections.append(Section(text=text, page=number, heading=(OCR_HEADING,)))
    if not sections:
        reason = "no text found by OCR"
        raise LoadError(str(path), reason + (f" ({warnings[0]})" if warnings else ""))
    return ParsedDocument(
        path=str(path),
        title=path.stem,
        format=_FORMAT_NAMES.get(path.suffix.lower(), path.suffix.lower().lstrip(".")),
        sections=tuple(sections),
        page_count=frames,
        metadata={"ocr": ocr.languages()},
        warnings=tuple(warnings),
    )


def normalise_ocr(text: str) -> str:
    """Tesseract's output with its line breaks inside paragraphs kept and runs of blank
    lines and trailing spaces gone."""
    lines = [" ".join(line.split()) for line in scrub(text).split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()
