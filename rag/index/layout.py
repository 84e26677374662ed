"""Where an index directory keeps its data, so a rebuild can replace it in one step.

A new index keeps its files (manifest, database, vectors) at the top of its directory.
A rebuild (`python -m rag.ingest --rebuild`) writes a complete second index in a
subfolder `gen-<n>` beside the live data, then names it in the file `current`; writing
that one small file (atomically) is the switch. Readers resolve the data folder when
they open and notice the switch on their next search. The write lock stays at the top,
so one lock covers the index whichever generation is live.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from rag.files import atomic_path

CURRENT_NAME = "current"
GENERATION_PREFIX = "gen-"

_GENERATION = re.compile(rf"{GENERATION_PREFIX}(\d+)")


def current_generation(index_dir: Path) -> str | None:
    """The live generation's folder name, or None when the data is at the top."""
    try:
        name = (Path(index_dir) / CURRENT_NAME).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    # Only a name this module wrote is followed: never a path out of the index.
    return name if _GENERATION.fullmatch(name) else None


def data_dir(index_dir: Path | str) -> Path:
    """The folder holding the live manifest, database and vectors of an index."""
    index_dir = Path(index_dir)
    name = current_generation(index_dir)
    return index_dir / name if name else index_dir


def generations(index_dir: Path) -> list[Path]:
    """Every generation folder in the index directory, oldest first."""
    found = []
    for path in Path(index_dir).glob(f"{GENERATION_PREFIX}*"):
        match = _GENERATION.fullmatch(path.name)
        if match and path.is_dir():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def next_generation(index_dir: Path) -> Path:
    """A fresh generation folder name, newer than any there."""
    numbers = [int(_GENERATION.fullmatch(p.name).group(1)) for p in generations(index_dir)]
    return Path(index_dir) / f"{GENERATION_PREFIX}{max(numbers, default=0) + 1}"


def switch_to(index_dir: Path, generation: Path) -> None:
    """Make `generation` the live data, in one atomic write of the `current` file."""
    with atomic_path(Path(index_dir) / CURRENT_NAME) as tmp:
        Path(tmp).write_text(generation.name + "\n", encoding="utf-8")


def retire(index_dir: Path, old_data: Path, top_level_names: tuple[str, ...]) -> None:
    """Delete data that is no longer live: a generation folder, or the files named
    `top_level_names` when the old data lived at the top of the index directory.

    Top-level files are renamed into a folder first, so a reader that resolved the old
    location a moment ago finds nothing (a clear "no index" it can retry) rather than
    half a database.
    """
    index_dir = Path(index_dir)
    if old_data.resolve() != index_dir.resolve():
        shutil.rmtree(old_data, ignore_errors=True)
        return
    retired = index_dir / ".retired"
    shutil.rmtree(retired, ignore_errors=True)
    retired.mkdir()
    for name in top_level_names:
        path = index_dir / name
        if path.exists():
            path.rename(retired / name)
    shutil.rmtree(retired, ignore_errors=True)
