"""Finding the files to ingest under the paths a user names, and fingerprinting them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ingest import SUPPORTED_SUFFIXES
from rag.errors import ConfigError
from rag.files import sha256_file


@dataclass(frozen=True)
class SourceFile:
    path: str  # absolute, resolved: the identity of a document in the index
    size: int
    mtime: float
    sha256: str


def fingerprint(path: Path) -> SourceFile:
    stat = path.stat()
    return SourceFile(str(path), stat.st_size, stat.st_mtime, sha256_file(path))


def walk(roots: list[Path], exclude: Path | None = None) -> tuple[list[Path], list[Path]]:
    """(supported files, unsupported files) under the roots, sorted, hidden entries skipped.

    A root that is a file is taken as it is, whatever its name. `exclude` (the index
    directory) is never walked into, so an index kept inside the documents folder is not
    ingested as a document.
    """
    exclude = exclude.resolve() if exclude else None
    found: set[Path] = set()
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise ConfigError(f"{root}: no such file or directory; check the path and try again")
        root = root.resolve()
        if root.is_file():
            found.add(root)
            continue
        for folder, dirs, files in os.walk(root):
            here = Path(folder)
            dirs[:] = sorted(
                d for d in dirs if not d.startswith(".") and (here / d).resolve() != exclude
            )
            found.update(here / f for f in files if not f.startswith("."))
    files = sorted(found)
    supported = [p for p in files if p.suffix.lower() in SUPPORTED_SUFFIXES]
    unsupported = [p for p in files if p.suffix.lower() not in SUPPORTED_SUFFIXES]
    return supported, unsupported


def is_under(path: str, roots: list[Path]) -> bool:
    """Whether a stored document path lies under (or is) one of the resolved roots."""
    p = Path(path)
    return any(p == r or r in p.parents for r in roots)
