"""A really killed ingest (SIGKILL, no cleanup) leaves a readable index; the next run completes it.

Each test runs the write path in a child process that is slowed down (its embedder sleeps,
and it can sleep or hang inside a store transaction or inside the final FAISS save), kills it
at some moment, then checks what a reader sees and what the next normal run does. The child
uses a HashEmbedder subclass, so the index manifest ("hash-64") matches the in-process runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import python_child
from conftest import versioned_text as text_of

from rag import Retriever, ingest_paths
from rag.index.milvus import MilvusVectors
from rag.index.store import DB_NAME, Store
from rag.index.vectors import VECTORS_NAME, VectorIndex
from rag.text.embedding import HashEmbedder

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, params=["faiss", "milvus-lite"])
def vector_store(request, monkeypatch) -> str:
    """Every test runs against each vector store; the children inherit the setting."""
    monkeypatch.setenv("RAG_VECTOR_STORE", request.param)
    return request.param


def saved_vector_ids(index_dir: Path) -> list[int]:
    """The ids the vector store holds now, as left by the last writer (no repair)."""
    if os.environ["RAG_VECTOR_STORE"] == "faiss":
        return VectorIndex.load(index_dir, DIM).ids().tolist()
    store = Store(index_dir)
    vectors = MilvusVectors.open(index_dir, DIM, store, uri="milvus-lite")
    try:
        return vectors.ids().tolist()
    finally:
        vectors.close()
        store.close()


N_DOCS = 40
DIM = 64

# The child: ingest_paths() with hooks that make it slow enough to kill at a chosen moment.
# `hang_*` options write a marker file saying where the child is, then wait to be killed.
CHILD = """
import json, time
from pathlib import Path

import faiss

import rag.index.writer
import rag.index.store
from rag.text.embedding import HashEmbedder

ARGS = json.loads(Path({args!r}).read_text())
MARKER = Path(ARGS["marker"])


def hang(where):
    MARKER.with_suffix(".tmp").write_text(where)
    MARKER.with_suffix(".tmp").rename(MARKER)  # the parent never sees it half-written
    time.sleep(600)


class SlowEmbedder(HashEmbedder):  # keeps id "hash-64": the manifest matches
    calls = 0

    def embed(self, texts):
        SlowEmbedder.calls += 1
        if SlowEmbedder.calls == ARGS["hang_in_embed"]:
            hang("embed")
        time.sleep(ARGS["delay"])
        return super().embed(texts)


writes = 0


def inside_transaction(method):
    def wrapper(self, *args, **kwargs):
        global writes
        result = method(self, *args, **kwargs)  # rows changed, not yet committed
        writes += 1
        if writes == ARGS["hang_in_transaction"]:
            hang(kwargs.get("path") or args[0])
        time.sleep(ARGS["txn_delay"])
        return result

    return wrapper


for name in ("replace_document", "record_failure", "remove_document"):
    setattr(rag.index.store.Store, name, inside_transaction(getattr(rag.index.store.Store, name)))

if ARGS["hang_in_save"]:
    write_index = faiss.write_index

    def hanging_write_index(index, path):
        write_index(index, path)  # the temporary file is written, not yet renamed
        hang(path)

    faiss.write_index = hanging_write_index

rag.index.writer.ingest_paths([ARGS["docs"]], ARGS["index"], SlowEmbedder())
"""


class Child:
    """One slowed-down ingest in a child process."""

    def __init__(self, tmp_path: Path, docs: Path, index_dir: Path, **options):
        n = len(list(tmp_path.glob("child-*.json")))
        self.marker = tmp_path / f"child-{n}.marker"
        args = {
            "docs": str(docs),
            "index": str(index_dir),
            "marker": str(self.marker),
            "delay": 0.01,
            "txn_delay": 0.0,
            "hang_in_embed": 0,
            "hang_in_transaction": 0,
            "hang_in_save": False,
        }
        unknown = set(options) - set(args)
        assert not unknown, unknown
        args.update(options)
        args_file = tmp_path / f"child-{n}.json"
        args_file.write_text(json.dumps(args))
        self.stderr_path = tmp_path / f"child-{n}.stderr"
        with self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                python_child(CHILD.format(args=str(args_file))),
                stdout=subprocess.DEVNULL,
                stderr=err,
                env={**os.environ, "RAG_EMBEDDER": "hash"},
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill_when(self, condition, timeout: float = 30.0) -> None:
        """SIGKILL the child as soon as `condition()` holds; fail if it ends first."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.proc.poll() is not None:
                pytest.fail(
                    f"the child ended (exit {self.proc.returncode}) before the moment to kill "
                    f"it:\n{self.stderr_path.read_text()}"
                )
            if time.monotonic() > deadline:
                pytest.fail("the moment to kill the child never came")
            time.sleep(0.002)
        os.kill(self.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=10) == -signal.SIGKILL

    def kill_when_hanging(self) -> str:
        """Wait for a `hang_*` hook to report, kill the child, return where it was."""
        self.kill_when(self.marker.exists)
        return self.marker.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def spawn(tmp_path):
    """Start slowed-down ingests; any still running at the end of the test are killed."""
    children: list[Child] = []

    def start(docs: Path, index_dir: Path, **options) -> Child:
        child = Child(tmp_path, docs, index_dir, **options)
        children.append(child)
        return child

    yield start
    for child in children:
        child.stop()


# -- a corpus whose every passage says which document and which version it comes from --------


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Corpus:
    """The files in one folder, and every version of each ever written (by sha256)."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(exist_ok=True)
        self.versions: dict[str, dict[str, str]] = {}

    def path(self, doc: int) -> str:
        return str((self.folder / f"doc{doc:02d}.txt").resolve())

    def write(self, docs, version: int) -> set[str]:
        """Write these documents at this version; returns the new contents' hashes."""
        written = set()
        for doc in docs:
            text = text_of(doc, version)
            Path(self.path(doc)).write_text(text, encoding="utf-8")
            self.versions.setdefault(self.path(doc), {})[sha(text)] = text
            written.add(sha(text))
        return written

    def delete(self, docs) -> None:
        for doc in docs:
            Path(self.path(doc)).unlink()

    def on_disk(self) -> dict[str, str]:
        return {str(p.resolve()): sha(p.read_text(encoding="utf-8")) for p in self.folder.iterdir()}


# -- looking at the index from outside ---------------------------------------------------------


def query(index_dir: Path, sql: str, params=()):
    """All rows, or None while the database or its tables do not exist yet."""
    db = index_dir / DB_NAME
    if not db.is_file():
        return None
    try:
        conn = sqlite3.connect(db, isolation_level=None, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return None


def ok_documents(index_dir: Path) -> int:
    rows = query(index_dir, "SELECT count(*) FROM documents WHERE status = 'ok'")
    return rows[0][0] if rows else 0


def documents_with(index_dir: Path, hashes: set[str]) -> int:
    rows = query(index_dir, "SELECT sha256 FROM documents") or []
    return sum(r[0] in hashes for r in rows)


def check_index(index_dir: Path, corpus: Corpus) -> dict[str, tuple[str, list[int]]]:
    """What must hold after any crash: every stored document whole, in one known version,
    with its passages in the FTS index; a reader sees exactly the stored chunks.

    Returns {path: (sha256, chunk ids)} of the documents stored with status ok.
    """
    conn = sqlite3.connect(index_dir / DB_NAME, isolation_level=None)
    try:
        conn.execute("BEGIN")  # one snapshot for all the reads
        docs = conn.execute("SELECT id, path, sha256, status, chunk_count FROM documents")
        docs = docs.fetchall()
        chunks = conn.execute("SELECT id, doc_id, position, text FROM chunks ORDER BY id")
        chunks = chunks.fetchall()
        fts_rows = conn.execute("SELECT count(*) FROM chunks_fts_docsize").fetchone()[0]
        conn.execute("COMMIT")
        # Raises "database disk image is malformed" if the FTS index and chunks disagree.
        conn.execute("INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        conn.close()

    by_doc: dict[int, list[tuple[int, int, str]]] = {}
    for chunk_id, doc_id, position, text in chunks:
        by_doc.setdefault(doc_id, []).append((position, chunk_id, text))
    assert set(by_doc) <= {d[0] for d in docs}, "chunks of no document"
    assert fts_rows == len(chunks), "the FTS index is out of step with the chunks table"

    stored = {}
    for doc_id, path, digest, status, chunk_count in docs:
        assert status == "ok", (path, status)
        assert digest in corpus.versions.get(path, {}), f"{path}: a version never written"
        mine = sorted(by_doc.get(doc_id, []))
        assert chunk_count > 0 and len(mine) == chunk_count, f"{path} is half-stored"
        assert [p for p, _, _ in mine] == list(range(chunk_count)), f"{path}: positions"
        content = corpus.versions[path][digest]
        assert all(text in content for _, _, text in mine), f"{path}: mixed versions"
        stored[path] = (digest, [cid for _, cid, _ in mine])

    # A reader opened now sees exactly the committed chunks, through both lists.
    all_ids = sorted(c[0] for c in chunks)
    with Retriever.open(index_dir, HashEmbedder(DIM)) as reader:
        dense = reader.search("zulu revision paragraph", k=10_000, dense_weight=1)
        lexical = reader.search("zulu revision paragraph", k=10_000, dense_weight=0)
    assert sorted(h.chunk_id for h in dense) == all_ids, "dense search misses stored chunks"
    assert sorted(h.chunk_id for h in lexical) == all_ids, "lexical search misses chunks"
    texts = {c[0]: c[3] for c in chunks}
    assert all(h.text == texts[h.chunk_id] for h in dense + lexical)
    return stored


def check_complete(index_dir: Path, corpus: Corpus) -> None:
    """After a normal run: exactly the files on disk, each whole, and no orphan vectors."""
    stored = check_index(index_dir, corpus)
    assert {path: digest for path, (digest, _) in stored.items()} == corpus.on_disk()
    saved = saved_vector_ids(index_dir)
    assert len(saved) == len(set(saved)), "duplicate ids in the vector store"
    assert sorted(saved) == sorted(i for _, ids in stored.values() for i in ids)


# -- the tests -------------------------------------------------------------------------------


def test_killed_at_several_moments_while_adding_then_the_next_run_completes(
    tmp_path, index_dir, spawn
):
    corpus = Corpus(tmp_path / "docs")
    corpus.write(range(N_DOCS), version=1)
    kept: dict[str, tuple[str, list[int]]] = {}
    for at_least in (1, 5, 15):  # killed wherever it happens to be, once this many are in
        child = spawn(corpus.folder, index_dir, delay=0.02, txn_delay=0.01)
        child.kill_when(lambda n=at_least: ok_documents(index_dir) >= n)
        stored = check_index(index_dir, corpus)
        assert at_least <= len(stored) < N_DOCS
        # What an earlier run finished is kept as it was: resumed, not redone.
        assert {p: stored[p] for p in kept} == kept
        kept = stored

    # Killed inside the transaction of its third document: that one must roll back.
    child = spawn(corpus.folder, index_dir, hang_in_transaction=3)
    torn = child.kill_when_hanging()
    stored = check_index(index_dir, corpus)
    assert torn not in stored
    assert len(stored) == len(kept) + 2

    report = ingest_paths([corpus.folder], index_dir, HashEmbedder(DIM))
    assert (len(report.added), len(report.unchanged)) == (N_DOCS - len(stored), len(stored))
    assert report.updated == report.removed == report.failed == []
    check_complete(index_dir, corpus)


def test_killed_before_the_first_commit_then_the_cli_completes(tmp_path, index_dir, spawn):
    corpus = Corpus(tmp_path / "docs")
    corpus.write(range(N_DOCS), version=1)
    child = spawn(corpus.folder, index_dir, hang_in_embed=1)  # lock, manifest, schema: then hang
    assert child.kill_when_hanging() == "embed"
    assert (index_dir / "write.lock").read_text() == str(child.pid)
    assert ok_documents(index_dir) == 0
    with Retriever.open(index_dir, HashEmbedder(DIM)) as reader:
        assert reader.search("zulu revision paragraph", k=5) == []

    # The lock died with the process, so a normal run can take it and do everything.
    result = subprocess.run(
        [
            *python_child(
                "from rag.cli.ingest import main; from rag.cli.common import run; run(main)"
            ),
            str(corpus.folder),
            "--index",
            str(index_dir),
            "--quiet",
        ],
        env={**os.environ, "RAG_EMBEDDER": "hash"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"added {N_DOCS} / updated 0 / unchanged 0 / removed 0 / failed 0" in result.stdout
    check_complete(index_dir, corpus)


def test_killed_during_the_final_vector_save(tmp_path, index_dir, spawn, vector_store):
    if vector_store != "faiss":
        pytest.skip("the FAISS file's save; Milvus has no file of ours to tear")
    corpus = Corpus(tmp_path / "docs")
    corpus.write(range(20), version=1)
    ingest_paths([corpus.folder], index_dir, HashEmbedder(DIM))
    before = VectorIndex.load(index_dir, DIM).ids().tolist()
    corpus.write(range(20, N_DOCS), version=1)

    child = spawn(corpus.folder, index_dir, hang_in_save=True)
    temporary = Path(child.kill_when_hanging())
    assert temporary.parent == index_dir and temporary.name != VECTORS_NAME
    # Every document is committed, but the FAISS file is still the previous run's ...
    assert ok_documents(index_dir) == N_DOCS
    assert VectorIndex.load(index_dir, DIM).ids().tolist() == before
    # ... and readers catch up from SQLite all the same.
    assert len(check_index(index_dir, corpus)) == N_DOCS

    report = ingest_paths([corpus.folder], index_dir, HashEmbedder(DIM))
    assert len(report.unchanged) == N_DOCS and report.embedded == 0
    check_complete(index_dir, corpus)


def test_killed_while_updating_changed_documents(tmp_path, index_dir, spawn):
    corpus = Corpus(tmp_path / "docs")
    old = corpus.write(range(N_DOCS), version=1)
    ingest_paths([corpus.folder], index_dir, HashEmbedder(DIM))
    new = corpus.write(range(N_DOCS), version=2)

    child = spawn(corpus.folder, index_dir, delay=0.005, txn_delay=0.02)
    child.kill_when(lambda: documents_with(index_dir, new) >= 10)
    stored = check_index(index_dir, corpus)
    assert len(stored) == N_DOCS, "an update must never lose the document"
    updated = {p for p, (digest, _) in stored.items() if digest in new}
    assert 10 <= len(updated) < N_DOCS

    # Killed inside an update's transaction (old chunks deleted, new ones inserted):
    # the old version must come back whole.
    child = spawn(corpus.folder, index_dir, hang_in_transaction=2)
    torn = child.kill_when_hanging()
    stored = check_index(index_dir, corpus)
    assert torn in stored and stored[torn][0] in old, "a killed update must roll back whole"
    updated = {p for p, (digest, _) in stored.items() if digest in new}

    report = ingest_paths([corpus.folder], index_dir, HashEmbedder(DIM))
    assert sorted(report.updated) == sorted(set(stored) - updated)
    assert sorted(report.unchanged) == sorted(updated)
    check_complete(index_dir, corpus)
    with Retriever.open(index_dir, HashEmbedder(DIM)) as reader:
        hits = reader.search("zulu revision 1 paragraph", k=10_000)
    assert hits and all("revision 2" in h.text for h in hits), "old versions left behind"


def test_killed_while_removing_documents(tmp_path, index_dir, spawn):
    corpus = Corpus(tmp_path / "docs")
    corpus.write(range(N_DOCS), version=1)
    ingest_paths([corpus.folder], index_dir, HashEmbedder(DIM))
    corpus.delete(range(10, N_DOCS))

    child = spawn(corpus.folder, index_dir, txn_delay=0.03)
    child.kill_when(lambda: ok_documents(index_dir) <= N_DOCS - 5)
    stored = check_index(index_dir, corpus)
    assert 10 < len(stored) <= N_DOCS - 5

    child = spawn(corpus.folder, index_dir, hang_in_transaction=1)
    torn = child.kill_when_hanging()
    assert torn in check_index(index_dir, corpus), "a rolled-back removal must keep the file"

    report = ingest_paths([corpus.folder], index_dir, HashEmbedder(DIM))
    assert sorted(report.removed) == sorted(set(stored) - set(corpus.on_disk()))
    assert len(report.unchanged) == 10
    check_complete(index_dir, corpus)
    with Retriever.open(index_dir, HashEmbedder(DIM)) as reader:
        assert all(int(h.source[-6:-4]) < 10 for h in reader.search("zulu paragraph", k=10_000))
