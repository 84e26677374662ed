"""Plain text files, and the byte decoding every text-based loader shares.

Files on a company share come in every encoding; none of them may crash ingestion.
`decode_bytes` therefore always returns a string: BOMs first (they are unambiguous),
then strict UTF-8 (by far the most common, and it rarely validates by accident), then
an encoding the file declares (HTML's <meta charset>), then Windows-1252 (what legacy
Western "ANSI" files are), and finally Latin-1, which maps every byte and never fails.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from ._common import SectionBuilder, scrub
from .types import ParsedDocument

# Longest BOM first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_bytes(data: bytes, encoding_hint: str | None = None) -> str:
    """Decode file bytes to text; never raises on any input.

    `encoding_hint` is an encoding the file itself declares; it is tried after the BOM
    and UTF-8 checks and ignored when unknown or wrong.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            # A BOM followed by broken data still decodes: keep what is readable.
            return data[len(bom) :].decode(encoding, errors="replace")
    candidates = ["utf-8"]
    hint = _known_encoding(encoding_hint)
    if hint:
        candidates.append(hint)
    candidates.append("cp1252")
    for encoding in candidates:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _known_encoding(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip()).name
    except LookupError:
        return None
    # Browsers read "latin-1" and "ascii" labels as Windows-1252 (the WHATWG Encoding
    # standard), and so do we: cp1252 is tried next anyway. A "UTF-16" label in an
    # ASCII-compatible file contradicts itself; real UTF-16 files have a BOM.
    if name in {"latin-1", "iso8859-1", "ascii"} or name.startswith(("utf-16", "utf-32")):
        return None
    return name


def read_text(path: str | Path, encoding_hint: str | None = None) -> str:
    """Read a whole file as text with `decode_bytes`, scrubbed (no NULs, "\\n" line ends)."""
    return scrub(decode_bytes(Path(path).read_bytes(), encoding_hint))


def load_text(path: str | Path) -> ParsedDocument:
    """A plain text file becomes one section holding the whole text, as written."""
    path = Path(path)
    builder = SectionBuilder()
    builder.add(read_text(path))
    return ParsedDocument(
        path=str(path),
        title=path.stem or path.name,
        format="text",
        sections=builder.build(),
    )
