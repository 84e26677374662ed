"""The write path: plan what changed under some folders, then load -> chunk -> embed -> store.

Each document is committed on its own, so a killed run keeps every document finished
before it, and the next run picks up where it stopped. The vector store (the FAISS file,
or Milvus) is flushed at the end (and now and then during long runs); if a run dies
before that, the next open restores what is missing from the vectors kept in SQLite.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import ingest
from rag.config import ChunkerSettings, default_index_dir
from rag.errors import ConfigError, RagError
from rag.index import collections
from rag.index.layout import data_dir
from rag.index.locking import WriteLock
from rag.index.manifest import (
    MANIFEST_NAME,
    Manifest,
    embedder_spec_for_index,
    read_manifest,
    write_manifest,
)
from rag.index.parsing import Parsed, describe, read_all
from rag.index.sources import SourceFile, fingerprint, is_under, walk
from rag.index.store import DEFAULT_COLLECTION, DEFAULT_COLLECTION_ID, NewChunk, Store
from rag.index.vector_store import VectorStore, open_vector_store
from rag.text.chunking import chunk_document, document_text, embedding_input
from rag.text.embedding import Embedder, make_embedder
from rag.text.lexical import analyze, guess_language

SAVE_EVERY_SECONDS = 60.0


@dataclass
class Plan:
    add: list[SourceFile] = field(default_factory=list)
    update: list[SourceFile] = field(default_factory=list)  # content changed, or failed before
    unchanged: list[SourceFile] = field(default_factory=list)
    touched: list[SourceFile] = field(default_factory=list)  # unchanged, but a new mtime
    remove: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    @property
    def to_process(self) -> list[SourceFile]:
        return self.add + self.update

    def as_dict(self) -> dict:
        return {
            "add": [f.path for f in self.add],
            "update": [f.path for f in self.update],
            "unchanged": [f.path for f in self.unchanged],
            "remove": list(self.remove),
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
        }


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    pages: int = 0
    chunks: int = 0
    embedded: int = 0  # chunks whose vectors had to be computed (the rest were reused)
    seconds: float = 0.0

    def merge(self, other: IngestReport) -> None:
        """Add another report's files and counts to this one's (its seconds aside)."""
        for name in ("added", "updated", "unchanged", "removed", "failed", "skipped", "warnings"):
            getattr(self, name).extend(getattr(other, name))
        self.pages += other.pages
        self.chunks += other.chunks
        self.embedded += other.embedded

    def as_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": [{"path": p, "reason": r} for p, r in self.failed],
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "warnings": [{"path": p, "warning": w} for p, w in self.warnings],
            "pages": self.pages,
            "chunks": self.chunks,
            "embedded": self.embedded,
            "seconds": round(self.seconds, 3),
        }


# progress(files done, files to process, path just finished, pages so far, chunks so far)
Progress = Callable[[int, int, str, int, int], None]


class IndexWriter:
    """Exclusive write access to one index directory. Use as a context manager."""

    def __init__(
        self,
        index_dir: Path | str | None = None,
        embedder: Embedder | None = None,
        chunker: ChunkerSettings | None = None,
        lock_wait: float = 0.0,
        collection: str = DEFAULT_COLLECTION,
        create_collection: bool = True,
    ):
        """`lock_wait`: seconds to wait for another writer (0: fail at once). Without an
        `embedder`, the one the index was built with (RAG_EMBEDDER, or the default, for a
        new index). Files are planned and stored in `collection`, which is created if it
        does not exist yet. With `create_collection` false a missing collection plans as
        an empty one, and writing to it is an error naming the collections there are."""
        self.index_dir = Path(index_dir) if index_dir else default_index_dir()
        self.collection_name = collections.check_name(collection)
        self._create_collection = create_collection
        # Looked up once the lock is held; None: the collection does not exist (yet).
        self.collection_id: int | None = DEFAULT_COLLECTION_ID
        self.created_collection = False
        self.data_dir = self.index_dir  # the live data folder, known once the lock is held
        self.embedder = embedder or make_embedder(embedder_spec_for_index(self.index_dir))
        self._chunker = chunker
        self._lock = WriteLock(self.index_dir, lock_wait)
        self.store: Store | None = None
        self.vectors: VectorStore | None = None
        self._last_save = 0.0

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> IndexWriter:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            # Resolved under the lock: a rebuild switches the live data only while holding it.
            self.data_dir = data_dir(self.index_dir)
            # Temporary files of a writer that was killed mid-save; only the lock holder
            # writes them, so any found now are leftovers.
            for leftover in (
                *self.data_dir.glob(".vectors-*"),
                *self.data_dir.glob(".manifest-*"),
            ):
                leftover.unlink(missing_ok=True)
            self.manifest = self._open_manifest()
            self.store = Store(self.data_dir)
            self.collection_id = self._open_collection()
            self.vectors = open_vector_store(self.data_dir, self.manifest.dimension, self.store)
            self._last_save = time.monotonic()
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.vectors is not None:
                try:
                    self.vectors.flush()
                finally:
                    self.vectors.close()
        finally:
            if self.store is not None:
                self.store.close()
            self._lock.release()

    def _open_collection(self) -> int | None:
        found = self.store.collection(self.collection_name)
        if found is None and self._create_collection:
            found = collections.create(self.store, self.collection_name, self.index_dir)
            self.created_collection = True
        return found.id if found else None

    def _writable_collection(self) -> int:
        if self.collection_id is None:
            collections.find(self.store, self.collection_name)  # raises, listing the others
        return self.collection_id

    def select_collection(self, name: str, create: bool = True) -> None:
        """Plan and store in another collection from now on (one writer, one lock, for a
        run over several)."""
        self.collection_name = collections.check_name(name)
        self._create_collection = create
        self.collection_id = self._open_collection()

    def _open_manifest(self) -> Manifest:
        if not self.embedder.dimension:  # a configured model tells its size once loaded
            self.embedder.embed(["dimension probe"])
        if (self.data_dir / MANIFEST_NAME).is_file():
            existing = read_manifest(self.data_dir)
            wanted = Manifest(
                self.embedder.id, self.embedder.dimension, self._chunker or existing.chunker
            )
            existing.check_compatible(wanted, self.index_dir)
            return existing
        manifest = Manifest(
            self.embedder.id, self.embedder.dimension, self._chunker or ChunkerSettings()
        )
        write_manifest(self.data_dir, manifest)
        return manifest

    # -- planning -----------------------------------------------------------------------

    def plan(self, roots: list[Path | str], exclude: Path | None = None) -> Plan:
        """Compare the files under `roots` with the index, by content hash. `exclude` is a
        folder never walked into (default: this index's)."""
        roots = [Path(r) for r in roots]
        supported, unsupported = walk(roots, exclude=exclude or self.index_dir)
        plan = Plan()
        for path in unsupported:
            plan.skipped.append(
                (
                    str(path),
                    f"unsupported file type '{path.suffix or '(none)'}'; supported: "
                    + ", ".join(sorted(ingest.SUPPORTED_SUFFIXES)),
                )
            )
        seen = set()
        for path in supported:
            source = fingerprint(path)
            seen.add(source.path)
            known = self.store.document(source.path, self.collection_id)
            if known is None:
                plan.add.append(source)
            elif known.sha256 != source.sha256 or known.status != "ok":
                plan.update.append(source)
            else:
                plan.unchanged.append(source)
                if known.mtime != source.mtime:
                    plan.touched.append(source)
        resolved = [r.resolve() for r in roots]
        for doc in self.store.documents([self.collection_id]):
            if doc.path not in seen and is_under(doc.path, resolved):
                plan.remove.append(doc.path)
        return plan

    # -- applying -----------------------------------------------------------------------

    def apply(
        self,
        plan: Plan,
        progress: Progress | None = None,
        on_file: Callable[[str, IngestReport], None] | None = None,
    ) -> IngestReport:
        """Carry out a plan. Files are read by a pool of worker processes (see
        rag.index.parsing) and stored as each is read, so the order of `progress` and
        `on_file` (each file's own report) is the order files finish."""
        started = time.perf_counter()
        if plan.touched or plan.remove or plan.to_process:
            self._writable_collection()
        report = IngestReport(skipped=list(plan.skipped))
        report.unchanged = [source.path for source in plan.unchanged]
        if plan.touched:  # one commit, and none at all when nothing was touched
            with self.store.transaction():
                for source in plan.touched:
                    self.store.touch_document(source.path, self.collection_id, source.mtime)
        for path in plan.remove:
            self.remove(path)
            report.removed.append(path)
        is_update = {s.path for s in plan.update}
        todo = plan.to_process
        for done, parsed in enumerate(read_all(todo), start=1):
            one = IngestReport()
            if self.store_parsed(parsed, one):
                (one.updated if parsed.source.path in is_update else one.added).append(
                    parsed.source.path
                )
            report.merge(one)
            if on_file:
                on_file(parsed.source.path, one)
            if progress:
                progress(done, len(todo), parsed.source.path, report.pages, report.chunks)
            if time.monotonic() - self._last_save > SAVE_EVERY_SECONDS:
                self.vectors.flush()
                self._last_save = time.monotonic()
        report.seconds = time.perf_counter() - started
        return report

    def store_parsed(self, parsed: Parsed, report: IngestReport) -> bool:
        """Chunk, embed and store a file as read. A failure is recorded, never raised."""
        source = parsed.source
        collection = self._writable_collection()
        fmt = Path(source.path).suffix.lower().lstrip(".")
        doc = parsed.document
        try:
            if doc is None:
                raise ingest.LoadError(source.path, parsed.error)
            chunks = chunk_document(
                doc, source.sha256, self.embedder.count_tokens, self.manifest.chunker
            )
            if not chunks:
                raise ingest.LoadError(source.path, "no text to index")
            language = guess_language(document_text(doc)[0])
            new_chunks, embedded = self._embed(doc.title, language, chunks)
        except RagError:
            raise  # the model or index is unusable: stop the run, not just this file
        except Exception as exc:  # noqa: BLE001 - one bad file must never stop the run
            reason = exc.reason if isinstance(exc, ingest.LoadError) else describe(exc)
            with self.store.transaction():
                removed = self.store.record_failure(
                    collection=collection,
                    path=source.path,
                    sha256=source.sha256,
                    size=source.size,
                    mtime=source.mtime,
                    format=fmt,
                    error=reason,
                )
            self.vectors.remove(removed)
            report.failed.append((source.path, reason))
            return False
        with self.store.transaction():
            removed, added, document = self.store.replace_document(
                collection=collection,
                path=source.path,
                sha256=source.sha256,
                size=source.size,
                mtime=source.mtime,
                format=doc.format,
                language=language,
                title=doc.title,
                pages=doc.page_count,
                warnings=doc.warnings,
                chunks=new_chunks,
            )
        # The database is committed; the in-memory FAISS index follows. Were the process
        # killed right here, the next open's sync() would do the same from SQLite.
        self.vectors.remove(removed)
        self.vectors.add(
            np.array(added, dtype=np.int64),
            np.stack([c.vector for c in new_chunks]),
            document,
            collection,
        )
        report.pages += doc.page_count or 0
        report.chunks += len(new_chunks)
        report.embedded += embedded
        report.warnings.extend((source.path, w) for w in doc.warnings)
        return True

    def _embed(self, title: str, language: str, chunks) -> tuple[list[NewChunk], int]:
        inputs = [embedding_input(title, c.heading, c.text) for c in chunks]
        hashes = [
            hashlib.sha256(f"{self.embedder.id}\n{text}".encode()).hexdigest() for text in inputs
        ]
        known = self.store.vectors_by_embed_hash(hashes)
        missing = [i for i, h in enumerate(hashes) if h not in known]
        fresh = self.embedder.embed([inputs[i] for i in missing]) if missing else []
        vectors = {hashes[i]: fresh[n] for n, i in enumerate(missing)}
        vectors.update(known)
        new = [
            NewChunk(
                chunk=c,
                title=title,
                embed_hash=h,
                vector=vectors[h],
                terms=analyze(c.text, language),
                context_terms=analyze(f"{title} {c.heading}", language),
            )
            for c, h in zip(chunks, hashes, strict=True)
        ]
        return new, len(missing)

    def remove(self, path: str) -> bool:
        """Drop a document of this writer's collection and its vectors. Returns whether it
        was there."""
        collection = self._writable_collection()
        with self.store.transaction():
            known = self.store.document(path, collection) is not None
            removed = self.store.remove_document(path, collection)
        self.vectors.remove(removed)
        return known

    def delete_collection(self) -> list[str]:
        """Drop this writer's collection: its documents, their vectors, then the collection
        itself. Returns the paths of the documents it held. Each document goes in its own
        commit, so a killed delete leaves a smaller collection, never a broken one."""
        if self._writable_collection() == DEFAULT_COLLECTION_ID:
            raise ConfigError(
                f"the collection {DEFAULT_COLLECTION!r} cannot be deleted "
                "(its documents can: delete them one by one, or ingest an empty folder)"
            )
        paths = [doc.path for doc in self.store.documents([self.collection_id])]
        for path in paths:
            self.remove(path)
        with self.store.transaction():
            self.store.delete_collection(self.collection_id)
        return paths


def rebuild_vectors(index_dir: Path | str | None = None, lock_wait: float = 0.0) -> dict:
    """Empty the configured vector store and fill it again from the database, which keeps
    every chunk's vector (`python -m rag.ingest --rebuild-vectors`): after a store was
    damaged or switched. Nothing is embedded. Returns the figures of the run."""
    started = time.perf_counter()
    index_dir = Path(index_dir) if index_dir else default_index_dir()
    read_manifest(data_dir(index_dir))  # no index here: says so (and how to make one)
    with WriteLock(index_dir, lock_wait):
        folder = data_dir(index_dir)
        manifest = read_manifest(folder)
        store = Store(folder)
        try:
            vectors = open_vector_store(folder, manifest.dimension, store, sync=False)
            try:
                vectors.clear()
                vectors.sync(store)
                vectors.flush()
                count, kind = vectors.count(), vectors.kind
            finally:
                vectors.close()
        finally:
            store.close()
    return {
        "vector_store": kind,
        "vectors": count,
        "seconds": round(time.perf_counter() - started, 2),
    }


def ingest_paths(
    paths: list[Path | str],
    index_dir: Path | str | None = None,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
    collection: str = DEFAULT_COLLECTION,
) -> IngestReport:
    """Bring a collection of the index up to date with the files under `paths` (the
    library entry point); the collection is created if it is new."""
    with IndexWriter(index_dir, embedder, collection=collection) as writer:
        return writer.apply(writer.plan(paths), progress)
