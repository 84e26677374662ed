"""`--rebuild`: a complete second index beside the live one, then a switch in one step.

This is how an index changes embedder or chunking without being lost: the live index
keeps answering while the new one is built in a `gen-<n>` folder (see
rag.index.layout); when every document is in, the write lock is taken, whatever changed
in the meantime is caught up, and the `current` file is switched. Killed half way, the
live index is untouched; the next `--rebuild` with the same settings resumes the
unfinished build where it stopped, since finished documents are committed one by one.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rag.config import ChunkerSettings, default_embedder_spec, default_index_dir
from rag.errors import IndexMismatchError, IndexNotFoundError
from rag.index.layout import data_dir, generations, next_generation, retire, switch_to
from rag.index.locking import WriteLock
from rag.index.manifest import MANIFEST_NAME, Manifest, read_manifest
from rag.index.store import (
    DB_NAME,
    DEFAULT_COLLECTION,
    CollectionRecord,
    Store,
)
from rag.index.vectors import VECTORS_NAME
from rag.index.writer import IndexWriter, IngestReport, Plan, Progress
from rag.text.embedding import Embedder, make_embedder
from rag.types import DocumentRecord

# What an index keeps at the top of its directory before its first rebuild.
TOP_LEVEL_DATA = (MANIFEST_NAME, DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", VECTORS_NAME)

# Given each phase's plan, the callback that reports that phase's progress.
ProgressFactory = Callable[[str, Plan], Progress | None]


@dataclass
class RebuildReport:
    old_embedder: str
    new_embedder: str
    generation: str  # the folder that is now live
    resumed: bool  # an unfinished build of the same settings was carried on
    build: IngestReport
    catch_up: IngestReport  # what changed in the live index while the build ran
    # Documents of the old index whose files no longer exist: they cannot be read again,
    # so they are not in the new index.
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[tuple[str, str]]:
        return self.build.failed + self.catch_up.failed

    def as_dict(self) -> dict:
        return {
            "old_embedder": self.old_embedder,
            "new_embedder": self.new_embedder,
            "generation": self.generation,
            "resumed": self.resumed,
            "build": self.build.as_dict(),
            "catch_up": self.catch_up.as_dict(),
            "missing": self.missing,
            "seconds": round(self.seconds, 3),
        }


def rebuild(
    index_dir: Path | str | None = None,
    paths: list[Path | str] = (),
    embedder: Embedder | None = None,
    chunker: ChunkerSettings | None = None,
    progress: ProgressFactory | None = None,
    lock_wait: float = 0.0,
    collection: str = DEFAULT_COLLECTION,
) -> RebuildReport:
    """Rebuild an index with `embedder` (default: RAG_EMBEDDER or the default model, not
    the index's own) and `chunker` (default: the current defaults), from the files of
    the documents it holds (in their collections) plus any under `paths` (into
    `collection`); then make the new index live."""
    started = time.perf_counter()
    index_dir = Path(index_dir) if index_dir else default_index_dir()
    live = data_dir(index_dir)
    old = read_manifest(live)  # no index yet: a clear error naming the way to make one
    embedder = embedder or make_embedder(default_embedder_spec())
    chunker = chunker or ChunkerSettings()
    if not embedder.dimension:  # a configured model tells its size once loaded
        embedder.embed(["dimension probe"])
    target, resumed = _target(index_dir, live, Manifest(embedder.id, embedder.dimension, chunker))

    with IndexWriter(target, embedder, chunker) as writer:
        build = _bring_up_to_date(writer, index_dir, live, paths, collection, "build", progress)[0]

    with WriteLock(index_dir, lock_wait):  # no other ingest until the switch is made
        if data_dir(index_dir) != live:
            raise IndexMismatchError(
                f"index {index_dir} was switched by another rebuild while this one ran; "
                "run --rebuild again if its settings are not the ones wanted"
            )
        with IndexWriter(target, embedder, chunker) as writer:
            catch_up, missing = _bring_up_to_date(
                writer, index_dir, live, paths, collection, "catch-up", progress
            )
        if _document_count(target) == 0 and _document_count(live):
            raise IndexNotFoundError(
                f"the rebuild of {index_dir} read none of its documents (see the failures "
                "above); the index was left as it was"
            )
        switch_to(index_dir, target)
        retire(index_dir, live, TOP_LEVEL_DATA)
    return RebuildReport(
        old_embedder=old.embedder_id,
        new_embedder=embedder.id,
        generation=target.name,
        resumed=resumed,
        build=build,
        catch_up=catch_up,
        missing=missing,
        seconds=time.perf_counter() - started,
    )


def _target(index_dir: Path, live: Path, wanted: Manifest) -> tuple[Path, bool]:
    """An unfinished build with the same settings to resume, else a new folder. Unfinished
    builds of other settings are deleted, unless a rebuild is writing one now."""
    for folder in generations(index_dir):
        if folder.resolve() == live.resolve():
            continue
        with WriteLock(folder):  # raises if another rebuild is building it
            try:
                read_manifest(folder).check_compatible(wanted, folder)
                return folder, True
            except (IndexNotFoundError, IndexMismatchError, ValueError):
                pass
        shutil.rmtree(folder)
    return next_generation(index_dir), False


def _bring_up_to_date(
    writer: IndexWriter,
    index_dir: Path,
    live: Path,
    paths,
    paths_collection: str,
    phase: str,
    progress: ProgressFactory | None,
) -> tuple[IngestReport, list[str]]:
    """Make the new index hold the live index's collections and documents (those whose
    files still exist), plus the files under `paths` in `paths_collection`; nothing
    else."""
    live_collections, live_documents = _contents(live)
    if paths and not any(c.name.lower() == paths_collection.lower() for c in live_collections):
        writer.select_collection(paths_collection)  # a new collection for the new paths
        live_collections.append(writer.store.collection(paths_collection))
    report, missing = IngestReport(), []
    for record in live_collections:
        if writer.store.collection(record.name) is None:
            with writer.store.transaction():
                writer.store.create_collection(
                    record.name, record.description, record.docs_dir, id=record.id
                )
        writer.select_collection(record.name, create=False)
        recorded = [Path(d.path) for d in live_documents if d.collection == record.name]
        missing += [str(p) for p in recorded if not p.is_file()]
        extra = paths if record.name.lower() == paths_collection.lower() else ()
        roots = [*extra, *recorded]
        roots = [p for p in roots if Path(p).exists()]
        plan = writer.plan(roots, exclude=index_dir) if roots else Plan()
        wanted = {s.path for s in plan.add + plan.update + plan.unchanged}
        plan.remove = [
            d.path for d in writer.store.documents([writer.collection_id]) if d.path not in wanted
        ]
        label = phase if len(live_collections) == 1 else f"{phase} of {record.name}"
        report.merge(writer.apply(plan, progress(label, plan) if progress else None))
    writer.store.reserve_collection_ids(_last_collection_id(live))
    kept = {record.name.lower() for record in live_collections}
    for record in writer.store.collections():  # deleted from the live index meanwhile
        if record.name.lower() not in kept:
            writer.select_collection(record.name, create=False)
            report.removed += writer.delete_collection()
    writer.select_collection(DEFAULT_COLLECTION)
    return report, missing


def _contents(folder: Path) -> tuple[list[CollectionRecord], list[DocumentRecord]]:
    store = Store(folder)
    try:
        return store.collections(), store.documents()
    finally:
        store.close()


def _last_collection_id(folder: Path) -> int:
    store = Store(folder)
    try:
        return store.last_collection_id()
    finally:
        store.close()


def _document_count(folder: Path) -> int:
    return sum(1 for d in _contents(folder)[1] if d.status == "ok")
