"""Two processes on one index: a second writer is refused; a reader never sees a torn state.

The writer runs in a child process with the hash embedder. It can be held (its embedder
waits while a file exists) so the test decides when it finishes, with no timing guesses.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, python_child
from conftest import versioned_text as text_of

from rag import Retriever, ingest_paths
from rag.index.store import DB_NAME
from rag.index.vectors import VectorIndex
from rag.text.embedding import HashEmbedder

pytestmark = pytest.mark.slow

DIM = 64

# The child applies rounds of file changes, running a full ingest after each one.
# After `hold_after` embed calls it waits for as long as the `hold` file exists.
WRITER = """
import json, time
from pathlib import Path

import rag.index.writer
import rag.index.store
from rag.text.embedding import HashEmbedder

ARGS = json.loads(Path({args!r}).read_text())
HOLD = Path(ARGS["hold"])


class SlowEmbedder(HashEmbedder):  # keeps id "hash-64": the manifest matches
    calls = 0

    def embed(self, texts):
        SlowEmbedder.calls += 1
        while SlowEmbedder.calls > ARGS["hold_after"] and HOLD.exists():
            time.sleep(0.005)
        time.sleep(ARGS["delay"])
        return super().embed(texts)


def inside_transaction(method):
    def wrapper(self, *args, **kwargs):
        result = method(self, *args, **kwargs)
        time.sleep(ARGS["txn_delay"])  # readers keep reading while this write is open
        return result

    return wrapper


for name in ("replace_document", "remove_document"):
    setattr(rag.index.store.Store, name, inside_transaction(getattr(rag.index.store.Store, name)))

for step in ARGS["rounds"]:
    for path, text in step["write"].items():
        Path(path).write_text(text, encoding="utf-8")
    for path in step["delete"]:
        Path(path).unlink()
    rag.index.writer.ingest_paths([ARGS["docs"]], ARGS["index"], SlowEmbedder())
"""


def start_writer(tmp_path: Path, docs: Path, index_dir: Path, rounds, **options):
    args = {
        "docs": str(docs),
        "index": str(index_dir),
        "hold": str(tmp_path / "hold"),
        "hold_after": 0,
        "delay": 0.0,
        "txn_delay": 0.0,
        "rounds": rounds,
        **options,
    }
    args_file = tmp_path / "writer.json"
    args_file.write_text(json.dumps(args))
    return subprocess.Popen(
        python_child(WRITER.format(args=str(args_file))),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "RAG_EMBEDDER": "hash"},
    )


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for(condition, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the writer ended early ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the writer")
        time.sleep(0.005)


def doc_path(docs: Path, doc: int) -> str:
    return str((docs / f"doc{doc:02d}.txt").resolve())


def count(index_dir: Path, sql: str) -> int:
    if not (index_dir / DB_NAME).is_file():
        return 0
    try:
        conn = sqlite3.connect(index_dir / DB_NAME, isolation_level=None, timeout=10)
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def snapshot_problems(conn: sqlite3.Connection) -> list:
    """In one read transaction: documents whose chunks are not all there, and FTS drift."""
    conn.execute("BEGIN")
    try:
        torn = conn.execute(
            "SELECT d.path, d.chunk_count, count(c.id) FROM documents d "
            "LEFT JOIN chunks c ON c.doc_id = d.id WHERE d.status = 'ok' "
            "GROUP BY d.id HAVING count(c.id) != d.chunk_count OR d.chunk_count = 0"
        ).fetchall()
        chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        fts = conn.execute("SELECT count(*) FROM chunks_fts_docsize").fetchone()[0]
    finally:
        conn.execute("COMMIT")
    return torn + ([("fts rows", fts, chunks)] if fts != chunks else [])


def assert_complete(index_dir: Path, docs: Path) -> None:
    """The index holds exactly the files on disk; the saved FAISS ids are the chunk ids."""
    on_disk = {str(p.resolve()): hashlib.sha256(p.read_bytes()).hexdigest() for p in docs.iterdir()}
    with sqlite3.connect(index_dir / DB_NAME) as conn:
        stored = dict(conn.execute("SELECT path, sha256 FROM documents WHERE status = 'ok'"))
        ids = sorted(r[0] for r in conn.execute("SELECT id FROM chunks"))
        assert snapshot_problems(conn) == []
    assert stored == on_disk
    assert sorted(VectorIndex.load(index_dir, DIM).ids().tolist()) == ids


def test_a_second_ingest_is_refused_while_the_first_runs(tmp_path, docs, index_dir, processes):
    for n in range(10):
        (docs / f"extra{n}.txt").write_text(f"Extra note {n} about the zulu office.\n")
    hold = tmp_path / "hold"
    hold.touch()
    first = start_writer(tmp_path, docs, index_dir, [{"write": {}, "delete": []}], hold_after=2)
    processes.append(first)
    lock = index_dir / "write.lock"
    wait_for(lambda: lock.is_file() and lock.read_text() == str(first.pid), first)
    wait_for(lambda: count(index_dir, "SELECT count(*) FROM documents") >= 2, first)

    second = subprocess.run(
        [sys.executable, "-m", "rag.ingest", str(docs), "--index", str(index_dir)],
        cwd=REPO,
        env={**os.environ, "RAG_EMBEDDER": "hash"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 3, second.stderr
    assert "another ingest" in second.stderr and f"pid {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr and second.stdout == ""
    assert first.poll() is None, "the first ingest must be untouched by the refused one"

    hold.unlink()
    assert first.wait(timeout=60) == 0, first.stderr.read()
    assert_complete(index_dir, docs)
    report = ingest_paths([docs], index_dir, HashEmbedder(DIM))  # the lock is free again
    assert len(report.unchanged) == 13 and report.added == report.updated == []


def test_a_reader_never_sees_a_half_stored_or_deleted_document(tmp_path, index_dir, processes):
    docs = tmp_path / "docs"
    docs.mkdir()
    versions: dict[int, int] = {}  # the latest version of each document the writer will write

    def write(doc: int, version: int) -> tuple[str, str]:
        versions[doc] = max(versions.get(doc, 0), version)
        return doc_path(docs, doc), text_of(doc, version)

    for doc in range(12):
        Path(doc_path(docs, doc)).write_text(text_of(doc, 1), encoding="utf-8")
        versions[doc] = 1
    ingest_paths([docs], index_dir, HashEmbedder(DIM))
    # Versions only grow, so a chunk of version v can only vanish once v is superseded.
    rounds = [
        {"write": dict(write(d, 2) for d in range(6)), "delete": []},
        {"write": dict(write(d, 1) for d in range(12, 16)), "delete": [doc_path(docs, 10)]},
        {"write": dict(write(d, 3) for d in (0, 1, 12)), "delete": [doc_path(docs, 11)]},
        {
            "write": {**dict(write(d, 4) for d in range(2, 9)), **dict([write(10, 5)])},
            "delete": [doc_path(docs, 13)],
        },
    ]
    writer = start_writer(tmp_path, docs, index_dir, rounds, delay=0.01, txn_delay=0.02)
    processes.append(writer)

    sha_version = {
        hashlib.sha256(text_of(d, v).encode()).hexdigest(): v
        for d in versions
        for v in range(1, versions[d] + 1)
    }
    marker = re.compile(r"Document (\d+) revision (\d+) paragraph")
    queries = ["zulu revision paragraph", "document 3 revision 4", "w5r2p1t7 w12r3p0t3"]
    seen_revisions: set[tuple[int, int]] = set()
    searches = 0
    check = sqlite3.connect(index_dir / DB_NAME, isolation_level=None, timeout=10)
    with Retriever.open(index_dir, HashEmbedder(DIM)) as reader:
        while writer.poll() is None:
            hits = reader.search(queries[searches % len(queries)], k=30)
            searches += 1
            assert hits
            for hit in hits:
                found = set(marker.findall(hit.text))
                assert len(found) == 1, f"a passage mixing versions: {hit.text[:200]}"
                doc, version = (int(x) for x in found.pop())
                assert hit.source == doc_path(docs, doc)
                assert hit.text in text_of(doc, version)
                seen_revisions.add((doc, version))
                if check.execute("SELECT 1 FROM chunks WHERE id = ?", (hit.chunk_id,)).fetchone():
                    continue
                # Gone since the search: only because its document changed or went away.
                row = check.execute(
                    "SELECT sha256 FROM documents WHERE path = ?", (hit.source,)
                ).fetchone()
                assert row is None or sha_version[row[0]] > version, hit.chunk_id
            if searches % 10 == 0:
                assert snapshot_problems(check) == []
        assert writer.wait() == 0, writer.stderr.read()

        final = reader.search("zulu revision paragraph", k=10_000, dense_weight=1)
        ids = sorted(r[0] for r in check.execute("SELECT id FROM chunks"))
        assert sorted(h.chunk_id for h in final) == ids, "the reader missed the last writes"
    check.close()

    # The reader really overlapped the writes: it saw versions from several rounds.
    assert searches > 20
    assert len({v for _, v in seen_revisions}) >= 3, seen_revisions
    assert_complete(index_dir, docs)
    assert {doc for doc, _ in seen_revisions} >= {0, 10, 12}
