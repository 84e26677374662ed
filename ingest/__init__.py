"""Format loaders: a file goes in, a ParsedDocument (sections with pages and headings) comes out.

`load(path)` picks the loader by file suffix and raises only LoadError. This package knows
nothing about chunks, vectors or indexes, and imports nothing from `rag`.
"""

from .registry import DEFAULT_MAX_BYTES, SUPPORTED_SUFFIXES, load
from .types import LoadError, ParsedDocument, Section, UnsupportedFormatError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SUPPORTED_SUFFIXES",
    "LoadError",
    "ParsedDocument",
    "Section",
    "UnsupportedFormatError",
    "load",
]
