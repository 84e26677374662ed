"""Optical character recognition: text from scanned pages and images, with Tesseract.

Tesseract is a program from the operating system's packages (Debian: tesseract-ocr with
tesseract-ocr-eng and tesseract-ocr-spa), run through pytesseract, which starts it as
a separate process per page: a page that takes too long is stopped after
PAGE_TIMEOUT_S and reported, and the other pages and files go on. English and Spanish
are read together ("eng+spa"); a language whose data is missing is left out and said so.

Without Tesseract nothing else changes: the pages it would have read are reported with
the command that installs it.
"""

from __future__ import annotations

import functools
import os
import shutil

LANGUAGES = ("eng", "spa")
PAGE_TIMEOUT_S = 120
RENDER_DPI = 300  # what Tesseract is trained for; lower loses small print
MAX_PIXELS = 40_000_000  # a bigger image is scaled down before OCR (an A4 page at 300 dpi: 8.7 M)
INSTALL_HINT = (
    "install Tesseract to read scanned pages and images "
    "(Debian/Ubuntu: sudo apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa)"
)


class OcrUnavailable(Exception):
    """Tesseract (or pytesseract) is not installed; the message says how to install it."""


class OcrFailed(Exception):
    """One image could not be read (timeout, Tesseract error)."""


@functools.lru_cache(maxsize=1)
def _engine() -> tuple[object, str]:
    """(pytesseract module, language string), or OcrUnavailable with the fix."""
    try:
        import pytesseract
    except ImportError:
        raise OcrUnavailable(
            "the Python package pytesseract is missing: pip install pytesseract"
        ) from None
    command = os.environ.get("RAG_TESSERACT") or shutil.which("tesseract")
    if not command:
        raise OcrUnavailable(f"Tesseract is not installed: {INSTALL_HINT}")
    pytesseract.pytesseract.tesseract_cmd = command
    try:
        installed = set(pytesseract.get_languages(config=""))
    except Exception as exc:  # a broken install
        raise OcrUnavailable(f"Tesseract does not run ({exc}): {INSTALL_HINT}") from exc
    languages = [lang for lang in LANGUAGES if lang in installed]
    if not languages:
        raise OcrUnavailable(
            f"Tesseract has no English or Spanish data (it has {sorted(installed)}): {INSTALL_HINT}"
        )
    return pytesseract, "+".join(languages)


def available() -> str | None:
    """None when OCR works here, else why not and how to fix it."""
    try:
        _engine()
    except OcrUnavailable as exc:
        return str(exc)
    return None


def languages() -> str:
    return _engine()[1]


def image_text(image) -> str:
    """The text Tesseract reads in a PIL image. Raises OcrUnavailable or OcrFailed."""
    pytesseract, langs = _engine()
    image = _fit(image)
    try:
        return pytesseract.image_to_string(image, lang=langs, timeout=PAGE_TIMEOUT_S)
    except RuntimeError as exc:  # pytesseract's timeout
        raise OcrFailed(f"OCR took over {PAGE_TIMEOUT_S} s and was stopped") from exc
    except Exception as exc:  # TesseractError and friends
        raise OcrFailed(f"OCR failed: {' '.join(str(exc).split())[:200]}") from exc


def _fit(image):
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    pixels = image.width * image.height
    if pixels > MAX_PIXELS:
        scale = (MAX_PIXELS / pixels) ** 0.5
        image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
    return image
