"""The document library behind the app: the managed documents folder and what is indexed.

Uploads are saved under one folder (`RAG_DOCS_DIR`) with names that cannot leave it,
then ingested one file at a time so each gets its own status. Deleting a document drops
it from the index at once (a running Retriever notices the commit on its next search)
and deletes its file when the file lives in the managed folder. Nothing here knows about
the user interface.
"""

from __future__ import annotations

import copy
import os
import re
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import ingest
from rag.config import default_docs_dir, default_index_dir, new_collection_docs_dir
from rag.errors import AccessDeniedError, ConfigError, RagError
from rag.index import collections
from rag.index.layout import data_dir
from rag.index.manifest import MANIFEST_NAME, embedder_spec_for_index, read_manifest
from rag.index.sources import is_under
from rag.index.store import DEFAULT_COLLECTION, CollectionRecord, Store
from rag.index.writer import IndexWriter, IngestReport, Plan
from rag.text.embedding import Embedder, make_embedder
from rag.types import EVERYTHING, Access, DocumentRecord

if TYPE_CHECKING:
    from rag.users.audit import AuditLog

DEFAULT_MAX_UPLOAD_MB = 50
# Room for the temporary name and any suffix; most file systems allow 255 bytes.
MAX_NAME_BYTES = 150
# An upload waits this long for another session's ingest to finish before giving up.
LOCK_WAIT_SECONDS = 60.0

# Characters that are awkward or dangerous in a file name on some system.
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')


class DocumentNotFoundError(RagError):
    """No such document (or none the caller may read) in the collection asked."""


class UploadError(RagError):
    """An uploaded file was refused (type or size); the message says why."""


def default_max_upload_bytes() -> int:
    """`RAG_MAX_UPLOAD_MB` (megabytes per file) if set, else 50 MB."""
    raw = os.environ.get("RAG_MAX_UPLOAD_MB", "").strip()
    if not raw:
        return DEFAULT_MAX_UPLOAD_MB * 2**20
    try:
        megabytes = float(raw)
    except ValueError:
        raise ConfigError(
            f"RAG_MAX_UPLOAD_MB={raw!r} is not a number: set megabytes per file, e.g. 50"
        ) from None
    if megabytes <= 0:
        raise ConfigError(f"RAG_MAX_UPLOAD_MB must be more than 0, got {raw!r}")
    return int(megabytes * 2**20)


def safe_filename(name: str) -> str:
    """A plain file name for an uploaded file's name: no folders, no hidden or special
    names, no control characters, not too long; the type suffix is kept (lowercased).

    `../../etc/passwd` becomes `passwd`, `C:\\x\\a.pdf` becomes `a.pdf`.
    """
    name = unicodedata.normalize("NFC", str(name))
    base = re.split(r"[/\\]", name)[-1]  # browsers may send a path; either separator
    base = "".join(ch if ch.isprintable() else "_" for ch in base)
    base = _UNSAFE.sub("_", base)
    base = " ".join(base.split())
    # A leading dot would make it hidden (and skipped by ingest); '.' and '..' vanish.
    base = base.lstrip(". ").rstrip(". ")
    stem, suffix = os.path.splitext(base)
    suffix = suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", suffix) else ""
    if not suffix:
        stem = base
    stem = stem.strip() or "document"
    while len((stem + suffix).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem.rstrip(". ") + suffix


def format_size(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.1f} MB"
    if n >= 2**10:
        return f"{n / 2**10:.0f} KB"
    return f"{n} bytes"


@dataclass(frozen=True)
class FileResult:
    """What happened to one file in an ingest, upload or delete.

    `status` is one of added, updated, unchanged, removed, failed, skipped.
    """

    path: str
    status: str
    detail: str = ""
    pages: int = 0
    chunks: int = 0

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def ok(self) -> bool:
        return self.status not in ("failed", "skipped")


@dataclass(frozen=True)
class IndexStats:
    documents: int = 0
    failed: int = 0
    chunks: int = 0
    pages: int = 0
    document_bytes: int = 0  # the ingested files' sizes
    index_bytes: int = 0  # the index directory on disk
    embedder: str = ""
    dimension: int = 0
    chunk_tokens: int = 0
    overlap_tokens: int = 0
    last_ingested: str = ""
    formats: dict[str, int] = field(default_factory=dict)


# progress(files done, files to process, the result of the file just finished)
Progress = Callable[[int, int, FileResult], None]


class Library:
    """The documents of one collection of an index, and the folder uploads to it go to;
    and the index's collections (listed, created, renamed, deleted).

    Everything is seen as `access` allows: a collection it may not read looks empty and
    absent, changing documents needs write access, managing collections needs an admin.
    With an `audit` log, uploads, deletes and collection changes are recorded in it.

    Reading is cheap and safe from several threads. Writing (ingest, delete) takes the
    index's write lock, waiting up to `lock_wait` seconds for another writer.
    `embedder` should be the one the app's Retriever uses, so the model loads once.
    `docs_dir` overrides the default collection's folder (other collections keep theirs
    in the index).
    """

    def __init__(
        self,
        index_dir: Path | str | None = None,
        docs_dir: Path | str | None = None,
        embedder: Embedder | None = None,
        max_upload_bytes: int | None = None,
        lock_wait: float = LOCK_WAIT_SECONDS,
        collection: str = DEFAULT_COLLECTION,
        access: Access = EVERYTHING,
        audit: AuditLog | None = None,
    ):
        self.access = access
        self.audit = audit
        self.index_dir = Path(index_dir) if index_dir else default_index_dir()
        self.collection = collections.check_name(collection)
        self._default_docs_dir = Path(docs_dir) if docs_dir else default_docs_dir(self.index_dir)
        # Cheap: the model loads on first use. Without one given, the index's own, looked
        # up again after a rebuild that changed it.
        self._given_embedder = embedder
        self.embedder = embedder or make_embedder(embedder_spec_for_index(self.index_dir))
        self.max_upload_bytes = (
            default_max_upload_bytes() if max_upload_bytes is None else max_upload_bytes
        )
        self.lock_wait = lock_wait
        self._store: Store | None = None
        self._store_dir: Path | None = None
        self._store_lock = threading.Lock()
        self._docs_dir_seen: tuple[tuple | None, Path] = (None, Path())

    def close(self) -> None:
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def in_collection(self, name: str) -> Library:
        """The same index, models and limits, for another collection's documents."""
        return Library(
            self.index_dir,
            self._default_docs_dir,
            self._given_embedder or self.embedder,
            self.max_upload_bytes,
            self.lock_wait,
            collection=name,
            access=self.access,
            audit=self.audit,
        )

    def as_caller(self, access: Access, audit: AuditLog | None = None) -> Library:
        """The same index, models, limits and collection, seen as `access` allows."""
        # A shallow copy: the same open database connection, not another one per caller.
        library = copy.copy(self)
        library.access, library.audit = access, audit
        return library

    @property
    def docs_dir(self) -> Path:
        """Where uploads to this collection are saved. Looked up again only after a
        commit (`is_managed` asks once per document of a listing)."""
        if self.collection.lower() == DEFAULT_COLLECTION:
            return self._default_docs_dir
        store = self._reader()
        seen = (self._store_dir, store.data_version()) if store else None
        if seen is None or self._docs_dir_seen[0] != seen:
            record = store.collection(self.collection) if store else None
            folder = (
                Path(record.docs_dir)
                if record is not None and record.docs_dir
                else new_collection_docs_dir(self.collection, self.index_dir)
            )
            self._docs_dir_seen = (seen, folder)
        return self._docs_dir_seen[1]

    def store(self) -> Store | None:
        """The index database, for reading (None while there is no index); the same
        connection is shared by every caller and follows a rebuild's switch."""
        return self._reader()

    # -- reading ------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether an index has been created in the index directory."""
        return (data_dir(self.index_dir) / MANIFEST_NAME).is_file()

    def _reader(self) -> Store | None:
        with self._store_lock:  # sessions of a web app may ask at the same moment
            folder = data_dir(self.index_dir)
            if self._store is not None and folder != self._store_dir:
                self._store = None  # a rebuild switched the data; dropped, not closed
            if self._store is None and self.exists():
                self._store, self._store_dir = Store(folder), folder
            return self._store

    def _collection_id(self, store: Store) -> int | None:
        """This collection's id, or None when there is none the caller may read."""
        record = store.collection(self.collection)
        return record.id if record and self.access.can_read(record.id) else None

    def _record(self, action: str, collection: str | None = None, **detail) -> None:
        if self.audit is not None:
            self.audit.record(self.access.user, action, collection or self.collection, **detail)

    def check_writable(self) -> None:
        """AccessDeniedError unless the caller may change this collection's documents;
        a collection it may not read is "not found", as if it did not exist. Only an
        admin may bring a new collection into being by ingesting into it."""
        store = self._reader()
        record = store.collection(self.collection) if store else None
        if record is None:
            if self.access.is_admin:
                return
            raise collections.not_found(store, self.collection, self.access)
        if not self.access.can_read(record.id):
            raise collections.not_found(store, self.collection, self.access)
        if not self.access.can_write(record.id):
            raise AccessDeniedError(
                f"{self.access.user or 'you'} ({self.access.role}) may read but not change "
                f"the documents of {record.name!r}: an admin can make you its editor"
            )

    def _check_admin(self) -> None:
        if not self.access.is_admin:
            raise AccessDeniedError(
                "only an admin may create, rename or delete collections "
                f"({self.access.user or 'you'} is {self.access.role})"
            )

    def documents(self) -> list[DocumentRecord]:
        """This collection's documents, by path."""
        store = self._reader()
        found = store and self._collection_id(store)
        return store.documents([found]) if found else []

    def collections(self) -> list[CollectionRecord]:
        """The collections the caller may read (none before anything is stored)."""
        store = self._reader()
        return collections.visible(store, self.access) if store else []

    def document(self, doc_id: int) -> DocumentRecord | None:
        """The document of this id in this collection, or None: also when it is in a
        collection the caller may not read, so a guessed id tells nothing."""
        return next((d for d in self.documents() if d.id == doc_id), None)

    def document_file(self, doc_id: int) -> Path:
        """The file of one of this collection's documents, for a download (recorded in
        the audit trail); DocumentNotFoundError, saying only that there is none, when
        there is no such document or file."""
        doc = self.document(doc_id)
        path = Path(doc.path) if doc is not None else None
        if path is None or not path.is_file():
            raise DocumentNotFoundError(
                f"no document {doc_id} with a file in the collection {self.collection!r}"
            )
        self._record("download", name=path.name, document=doc_id)
        return path

    def stats(self) -> IndexStats:
        """This collection's figures (and the index's size on disk, shared by all)."""
        store = self._reader()
        found = store and self._collection_id(store)
        if not found:
            return IndexStats()
        docs = store.documents([found])
        counts = store.stats([found])
        folder = data_dir(self.index_dir)
        manifest = read_manifest(folder)
        formats: dict[str, int] = {}
        for doc in docs:
            formats[doc.format or "?"] = formats.get(doc.format or "?", 0) + 1
        # The index is shared by every collection: its size is for those who see them all.
        index_bytes = (
            sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
            if self.access.readable is None
            else 0
        )
        return IndexStats(
            documents=counts["documents"],
            failed=counts["failed"],
            chunks=counts["chunks"],
            pages=sum(d.pages or 0 for d in docs if d.status == "ok"),
            document_bytes=sum(d.size for d in docs),
            index_bytes=index_bytes,
            embedder=manifest.embedder_id,
            dimension=manifest.dimension,
            chunk_tokens=manifest.chunker.max_tokens,
            overlap_tokens=manifest.chunker.overlap_tokens,
            last_ingested=max((d.ingested_at for d in docs), default=""),
            formats=dict(sorted(formats.items())),
        )

    def is_managed(self, path: str | Path) -> bool:
        """Whether a document's file lives in the managed documents folder."""
        return is_under(str(Path(path).resolve()), [self.docs_dir.resolve()])

    # -- uploads ------------------------------------------------------------------------

    def check_upload(self, name: str, size: int) -> str:
        """The name an upload will be saved under, or UploadError saying why it is refused."""
        safe = safe_filename(name)
        suffix = Path(safe).suffix
        if suffix not in ingest.SUPPORTED_SUFFIXES:
            what = f"'{suffix}' files" if suffix else "files without a type suffix"
            raise UploadError(
                f"{name}: {what} cannot be read; supported types are "
                + " ".join(ingest.SUPPORTED_SUFFIXES)
            )
        if size > self.max_upload_bytes:
            raise UploadError(
                f"{name}: {format_size(size)} is over the {format_size(self.max_upload_bytes)} "
                "limit per file (split the file, or raise RAG_MAX_UPLOAD_MB)"
            )
        if size == 0:
            raise UploadError(f"{name}: the file is empty")
        return safe

    def save_upload(self, name: str, data: bytes) -> Path:
        """Write an upload into the documents folder (replacing a file of the same name)."""
        self.check_writable()
        safe = self.check_upload(name, len(data))
        folder = self.docs_dir.resolve()
        folder.mkdir(parents=True, exist_ok=True)
        target = (folder / safe).resolve()
        if target.parent != folder:  # safe_filename makes this impossible; check anyway
            raise UploadError(f"{name}: not a plain file name")
        # Written under a hidden name first: an ingest walking the folder skips it, and
        # a half-written upload never replaces a good file.
        partial = folder / f".upload-{uuid.uuid4().hex}.part"
        try:
            partial.write_bytes(data)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        self._record("upload", name=safe, bytes=len(data))
        return target

    # -- writing ------------------------------------------------------------------------

    def ingest_files(
        self,
        paths: Sequence[Path | str],
        progress: Progress | None = None,
        force: bool = False,
    ) -> list[FileResult]:
        """Ingest these files, one status each. `force` re-reads unchanged files too.

        A path that no longer exists but is in the index is removed from it.
        """
        self.check_writable()
        paths = list(dict.fromkeys(Path(p).absolute() for p in paths))
        results: list[FileResult | None] = [None] * len(paths)
        position: dict[str, int] = {}  # a file to read -> its place among `paths`

        def finished(index: int, result: FileResult) -> None:
            results[index] = result
            if progress:
                progress(sum(r is not None for r in results), len(paths), result)

        with self._writer() as writer:
            to_read = Plan()
            for index, path in enumerate(paths):
                answered = self._without_reading(writer, path, force)
                if isinstance(answered, FileResult):
                    finished(index, answered)
                else:
                    to_read.add += answered.add
                    to_read.update += answered.update
                    position[answered.to_process[0].path] = index
            self._read(writer, to_read, lambda result: finished(position[result.path], result))
        done = [result for result in results if result is not None]
        self._record("reingest" if force else "ingest", files=_statuses(done))
        return done

    def ingest_folder(
        self, folder: Path | str, progress: Progress | None = None
    ) -> list[FileResult]:
        """Bring the index up to date with a folder: new and changed files are read,
        files gone from it are dropped. Unsupported files are listed as skipped."""
        self.check_writable()
        with self._writer() as writer:
            plan = writer.plan([Path(folder)])
            results = [FileResult(p, "removed", "no longer in the folder") for p in plan.remove]
            results += [FileResult(s.path, "unchanged") for s in plan.unchanged]
            results += [FileResult(p, "skipped", reason) for p, reason in plan.skipped]
            # Removals and new modification times first, without reading any file.
            writer.apply(Plan(unchanged=plan.unchanged, touched=plan.touched, remove=plan.remove))
            read: list[FileResult] = []

            def finished(result: FileResult) -> None:
                read.append(result)
                if progress:
                    progress(len(read), len(plan.to_process), result)

            self._read(writer, Plan(add=plan.add, update=plan.update), finished)
        self._record("ingest_folder", folder=str(folder), files=_statuses(results + read))
        return results + read

    def delete(self, path: str | Path) -> FileResult:
        """Drop a document from the index; delete its file if it is in the managed folder."""
        path = str(path)
        self.check_writable()
        with self._writer(create=False) as writer:
            known = writer.remove(path)
        detail = ""
        if self.is_managed(path):
            Path(path).unlink(missing_ok=True)
            detail = "file deleted"
        elif Path(path).exists():
            detail = "file kept: it is outside the documents folder"
        if known:
            self._record("delete", name=Path(path).name)
        return FileResult(path, "removed" if known else "skipped", detail or "not in the index")

    def _writer(self, collection: str | None = None, create: bool = True) -> IndexWriter:
        if self._given_embedder is None:
            spec = embedder_spec_for_index(self.index_dir)
            if make_embedder(spec).id != self.embedder.id:  # a rebuild changed it
                self.embedder = make_embedder(spec)
        return IndexWriter(
            self.index_dir,
            self.embedder,
            lock_wait=self.lock_wait,
            collection=collection or self.collection,
            create_collection=create,
        )

    # -- collections --------------------------------------------------------------------

    def create_collection(self, name: str, description: str = "") -> CollectionRecord:
        """Add a collection (making the index if there is none yet)."""
        self._check_admin()
        name = collections.check_name(name)
        description = collections.check_description(description)
        with self._writer(DEFAULT_COLLECTION) as writer:
            record = collections.create(writer.store, name, self.index_dir, description)
        self._record("collection_create", record.name)
        return record

    def rename_collection(self, name: str, new_name: str) -> CollectionRecord:
        """Rename a collection; its documents and folder stay as they are."""
        self._check_admin()
        with self._writer(DEFAULT_COLLECTION) as writer:
            record = collections.rename(writer.store, name, new_name)
        self._record("collection_rename", record.name, old_name=name)
        return record

    def describe_collection(self, name: str, description: str) -> CollectionRecord:
        self._check_admin()
        with self._writer(DEFAULT_COLLECTION) as writer:
            record = collections.describe_as(writer.store, name, description)
        self._record("collection_describe", record.name)
        return record

    def delete_collection(self, name: str) -> list[FileResult]:
        """Drop a collection and its documents from the index, and delete their files
        that live in its documents folder (files elsewhere are kept)."""
        self._check_admin()
        with self._writer(name, create=False) as writer:
            record = collections.find(writer.store, name)
            paths = writer.delete_collection()
        self._record("collection_delete", record.name, documents=len(paths))
        folder = Path(record.docs_dir).resolve() if record.docs_dir else None
        results = []
        for path in paths:
            detail = "file kept: it is outside the collection's folder"
            if folder and is_under(str(Path(path).resolve()), [folder]):
                Path(path).unlink(missing_ok=True)
                detail = "file deleted"
            results.append(FileResult(path, "removed", detail))
        if folder and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        return results

    def _without_reading(self, writer: IndexWriter, path: Path, force: bool) -> FileResult | Plan:
        """The result for a file that needs no reading (gone, unsupported, unchanged), or
        the plan that reads it."""
        if not path.exists():
            resolved = str(path.resolve())
            if writer.store.document(resolved, writer.collection_id) is not None:
                writer.remove(resolved)
                return FileResult(resolved, "removed", "the file no longer exists")
            return FileResult(resolved, "failed", "file not found")
        plan = writer.plan([path])
        if plan.skipped:
            skipped, reason = plan.skipped[0]
            return FileResult(skipped, "skipped", reason)
        if force and plan.unchanged:
            plan = Plan(update=plan.unchanged)
        if plan.unchanged:
            writer.apply(plan)  # records a new modification time, if any
            return FileResult(plan.unchanged[0].path, "unchanged")
        return plan

    @staticmethod
    def _read(writer: IndexWriter, plan: Plan, finished: Callable[[FileResult], None]) -> None:
        """Read, embed and store the plan's files, each one's result as it is stored."""
        if plan.to_process:
            writer.apply(plan, on_file=lambda path, report: finished(_result(path, report)))


def _statuses(results: Iterable[FileResult]) -> list[dict[str, str]]:
    """What an audit record keeps of an ingest: each file's name and result."""
    return [{"name": r.name, "status": r.status} for r in results]


def _result(path: str, report: IngestReport) -> FileResult:
    if report.failed:
        return FileResult(path, "failed", report.failed[0][1])
    status = "updated" if report.updated else "added" if report.added else "unchanged"
    detail = "; ".join(w for _, w in report.warnings)
    return FileResult(path, status, detail, report.pages, report.chunks)


def progress_text(done: int, total: int, pages: int, seconds: float) -> str:
    """ "3 of 10 files, 41 pages at 5.2 pages/s, about 8 s left" for a running ingest; the
    time left is the files still to read at the pace so far."""
    text = f"{done} of {total} files, {pages} pages"
    if seconds > 0 and done:
        text += f" at {pages / seconds:.1f} pages/s"
        if done < total:
            left = seconds / done * (total - done)
            text += f", about {_duration(left)} left"
    return text


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    return f"{minutes // 60} h {minutes % 60} min"


def summarize(results: Iterable[FileResult]) -> str:
    """'2 added, 1 failed' for a list of results."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    order = ("added", "updated", "unchanged", "removed", "failed", "skipped")
    return ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s)) or "nothing to do"
