"""Files are read in worker processes while the writer embeds, in the order they finish.

Reading is mostly quick (PDFium reads 116 pages a second), but OCR runs at about one page
a second and a PDF's table finder at two or three, so a folder with a 200-page scan in it
would otherwise hold every file behind that scan. With the pool, the writer takes each
file as soon as any worker has read it: a slow file occupies one worker, the others keep
the embedder fed. Parsed documents cross back by pickling; only a few are in flight at
once, so memory stays bounded.

A worker that dies (a reader that crashes in C, the kernel's OOM killer) would take the
pool down with every file in flight. The files that were in flight are then read again
one at a time in a fresh worker each, so only the file that kills its worker fails,
with a reason that says so, and the run goes on.

Workers are spawned, not forked: the writer's process holds OpenMP and llama.cpp
threads, which a fork would copy in an undefined state.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import ingest
from rag.index.sources import SourceFile

# Files read ahead of the embedder per worker: enough to keep it busy, few enough that a
# handful of big parsed documents is all that waits in memory.
AHEAD_PER_WORKER = 2
# Starting the workers costs 2-3 s (each imports the readers), repaid only when a batch
# holds a file that can be slow to read: a PDF (OCR of scans, tables), an image (OCR),
# mail (its attachments), or much to read. A few notes and memos are read in place.
SLOW_SUFFIXES = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".eml", ".mbox"})
BATCH_BYTES_WORTH_A_POOL = 20 * 2**20
CRASHED_REASON = (
    "the reader crashed while reading it (out of memory, or a damaged file that breaks "
    "the parser): the other files were read; check or re-save this one"
)


@dataclass(frozen=True)
class Parsed:
    """A file as a worker read it: the document, or the reason it could not be read."""

    source: SourceFile
    document: ingest.ParsedDocument | None = None
    error: str = ""  # a LoadError's reason, or the exception described


def default_workers() -> int:
    """`RAG_PARSE_WORKERS` if set (0 reads in this process), else half the cores, at
    least 2 (so that one slow file never holds the others) and at most 4; but 0 when
    the program's main module is not known to be safe to import again (below)."""
    value = os.environ.get("RAG_PARSE_WORKERS", "").strip()
    if value:
        try:
            return max(int(value), 0)
        except ValueError:
            pass
    if not main_is_safe_to_import():
        return 0
    return min(max((os.cpu_count() or 2) // 2, 2), 4)


def main_is_safe_to_import() -> bool:
    """Whether spawned workers may start here without side effects.

    A spawned worker first imports the program's main module again. For `python -m
    rag.ingest` (or rag.eval) that is harmless, and a package's `__main__` is not
    imported at all; but a user's script that calls the library at its top level, with
    no `if __name__ == "__main__":` guard, would run again in every worker (loading
    models, ingesting). So by default the pool starts only under our own commands, a
    package's `__main__` (`python -m pytest`) or an interactive session;
    RAG_PARSE_WORKERS set explicitly turns it on anywhere.
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", "") or ""
    if name.startswith("rag.") or name.endswith(".__main__"):
        return True
    return spec is None and not getattr(main, "__file__", None)


def read_file(source: SourceFile) -> Parsed:
    """Read one file (in a worker, or in this process): never raises for a bad file."""
    try:
        return Parsed(source, ingest.load(source.path))
    except ingest.LoadError as exc:
        return Parsed(source, error=exc.reason)
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop the run
        return Parsed(source, error=describe(exc))


def describe(exc: BaseException) -> str:
    """An unexpected exception as a file's failure reason: its type and message."""
    text = str(exc).strip() or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:500]


def read_all(sources: Iterable[SourceFile], workers: int | None = None) -> Iterator[Parsed]:
    """Every source read, yielded as each is ready (not in the order given). Files are
    read here, in order, when there are no workers, fewer than two files, or nothing in
    the batch worth starting a pool for (see SLOW_SUFFIXES)."""
    sources = list(sources)
    workers = default_workers() if workers is None else workers
    if workers < 1 or len(sources) < 2 or not worth_a_pool(sources):
        yield from (read_file(source) for source in sources)
        return
    yield from _pooled(sources, min(workers, len(sources)))


def worth_a_pool(sources: list[SourceFile]) -> bool:
    return (
        any(Path(source.path).suffix.lower() in SLOW_SUFFIXES for source in sources)
        or sum(source.size for source in sources) >= BATCH_BYTES_WORTH_A_POOL
    )


def _pooled(sources: list[SourceFile], workers: int) -> Iterator[Parsed]:
    pending = list(reversed(sources))  # popped from the end: the given order
    context = multiprocessing.get_context("spawn")
    while pending:
        pool = ProcessPoolExecutor(workers, mp_context=context)
        finished = False
        try:
            crashed = yield from _until_broken(pool, pending, workers)
            finished = True
        finally:
            _shutdown(pool, finished)
        # A worker died: whichever file killed it, find it by reading each one alone.
        for source in crashed:
            yield _alone(source, context)


def _until_broken(
    pool: ProcessPoolExecutor, pending: list[SourceFile], workers: int
) -> Generator[Parsed, None, list[SourceFile]]:
    """Yield each file `pool` reads until `pending` is empty (returning []), or until a
    worker dies: then return the files that were in flight."""
    running: dict[Future, SourceFile] = {}
    while pending or running:
        while pending and len(running) < workers * AHEAD_PER_WORKER:
            source = pending.pop()
            try:
                running[pool.submit(read_file, source)] = source
            except BrokenProcessPool:
                pending.append(source)
                return list(running.values())
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        broken = False
        for future in done:
            try:
                result = future.result()
            except BrokenProcessPool:
                broken = True
                continue
            del running[future]
            yield result
        if broken:
            return list(running.values())
    return []


def _shutdown(pool: ProcessPoolExecutor, finished: bool) -> None:
    """Stop the pool; when the run was abandoned (the writer failed, Ctrl+C), end the
    workers at once instead of waiting for a long OCR to finish first."""
    pool.shutdown(wait=finished, cancel_futures=True)
    if not finished:
        # The executor has no public way to stop a task that has started.
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()


def _alone(source: SourceFile, context) -> Parsed:
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        try:
            return pool.submit(read_file, source).result()
        except BrokenProcessPool:
            return Parsed(source, error=CRASHED_REASON)
