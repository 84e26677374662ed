"""Rebuilding an index beside the live one (`--rebuild`), and the switch to it.

The embedders are hash fakes of two sizes (32 and 64 dimensions): they stand for "the
old model" and "the new model", which an index must never mix.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.errors import IndexLockedError, IndexMismatchError, IndexNotFoundError
from rag.index.layout import CURRENT_NAME, data_dir, generations
from rag.index.locking import WriteLock
from rag.index.manifest import embedder_spec_for_index, read_manifest
from rag.index.rebuild import rebuild
from rag.index.store import DB_NAME
from rag.index.writer import IndexWriter, ingest_paths
from rag.search.retriever import Retriever
from rag.text.embedding import HashEmbedder

REPO = Path(__file__).resolve().parents[1]
OLD, NEW = HashEmbedder(32), HashEmbedder(64)


@pytest.fixture(autouse=True)
def no_configured_embedder(monkeypatch):
    # The index's own embedder is what opens it unless RAG_EMBEDDER says otherwise.
    monkeypatch.delenv("RAG_EMBEDDER", raising=False)


def many_docs(folder: Path, count: int = 6) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (folder / f"memo-{n}.txt").write_text(
            f"Memo {n}. The meeting room number {n} seats {10 + n} people.\n\n"
            f"Project {n} is led by team member number {n}.\n",
            encoding="utf-8",
        )
    return folder


def ok_documents(folder: Path) -> int:
    path = folder / DB_NAME
    if not path.is_file():
        return 0
    with sqlite3.connect(path, timeout=10) as conn:
        try:
            return conn.execute("SELECT COUNT(*) FROM documents WHERE status = 'ok'").fetchone()[0]
        except sqlite3.OperationalError:  # the file exists, its tables not yet: none yet
            return 0


def chunk_rows(folder: Path) -> list[tuple]:
    with sqlite3.connect(folder / DB_NAME) as conn:
        return conn.execute(
            "SELECT d.path, c.position, c.text FROM chunks c JOIN documents d ON d.id = c.doc_id "
            "ORDER BY d.path, c.position"
        ).fetchall()


def test_a_rebuild_switches_embedder_and_keeps_every_document(tmp_path, docs, index_dir):
    ingest_paths([docs], index_dir, OLD)
    before = {h.source for h in Retriever.open(index_dir).search("warranty lamp", k=5)}

    report = rebuild(index_dir, embedder=NEW)

    assert (report.old_embedder, report.new_embedder) == ("hash-32", "hash-64")
    assert not report.resumed and not report.failed and not report.missing
    assert (index_dir / CURRENT_NAME).read_text().strip() == report.generation == "gen-1"
    assert read_manifest(data_dir(index_dir)).embedder_id == "hash-64"
    # The old data at the top of the folder is gone; the lock file stays there.
    assert not (index_dir / DB_NAME).exists() and not (index_dir / "manifest.json").exists()
    assert embedder_spec_for_index(index_dir) == "hash-64"
    with Retriever.open(index_dir) as retriever:  # picks the new embedder by itself
        assert retriever.embedder.id == "hash-64"
        assert {h.source for h in retriever.search("warranty lamp", k=5)} == before
    assert ok_documents(data_dir(index_dir)) == 3


def test_the_rebuilt_index_holds_what_a_fresh_build_would(tmp_path, index_dir):
    folder = many_docs(tmp_path / "docs")
    ingest_paths([folder], index_dir, OLD)
    rebuild(index_dir, embedder=NEW)
    fresh = tmp_path / "fresh"
    ingest_paths([folder], fresh, NEW)
    assert chunk_rows(data_dir(index_dir)) == chunk_rows(fresh)


def test_a_second_rebuild_retires_the_first_generation(tmp_path, docs, index_dir):
    ingest_paths([docs], index_dir, OLD)
    rebuild(index_dir, embedder=NEW)
    report = rebuild(index_dir, embedder=OLD)
    assert report.generation == "gen-2"
    assert [g.name for g in generations(index_dir)] == ["gen-2"]
    with Retriever.open(index_dir) as retriever:
        assert retriever.embedder.id == "hash-32"
        assert retriever.search("dieta diaria", k=1)[0].source.endswith("politica.md")


def test_an_open_retriever_follows_the_switch(tmp_path, docs, index_dir):
    ingest_paths([docs], index_dir, OLD)
    retriever = Retriever.open(index_dir)
    assert retriever.search("warranty", k=1)
    rebuild(index_dir, embedder=NEW)
    hits = retriever.search("warranty lamp", k=1)
    assert retriever.embedder.id == "hash-64"
    assert hits[0].source.endswith("faq.txt")


def test_changes_made_during_the_build_are_caught_up(tmp_path, docs, index_dir):
    ingest_paths([docs], index_dir, OLD)
    late = tmp_path / "late"
    late.mkdir()
    (late / "late.md").write_text("# Parking\n\nVisitors park on level minus two.\n")

    def progress(phase, plan):
        if phase == "build":  # the live index takes a new document while the build runs
            ingest_paths([late], index_dir, OLD)
            (docs / "faq.txt").unlink()
            with IndexWriter(index_dir, OLD) as writer:
                writer.apply(writer.plan([docs]))
        return None

    report = rebuild(index_dir, embedder=NEW, progress=progress)
    assert len(report.catch_up.added) == 1 and report.catch_up.removed
    with Retriever.open(index_dir) as retriever:
        sources = {Path(d.path).name for d in retriever.store.documents()}
    assert sources == {"handbook.md", "politica.md", "late.md"}


def test_documents_whose_files_are_gone_are_reported(tmp_path, docs, index_dir):
    ingest_paths([docs], index_dir, OLD)
    (docs / "faq.txt").unlink()
    report = rebuild(index_dir, embedder=NEW)
    assert [Path(p).name for p in report.missing] == ["faq.txt"]
    assert ok_documents(data_dir(index_dir)) == 2


def test_rebuilding_nothing_is_a_clear_error(index_dir):
    with pytest.raises(IndexNotFoundError, match="rag.ingest PATH"):
        rebuild(index_dir, embedder=NEW)


def test_a_rebuild_that_reads_nothing_does_not_switch(tmp_path, docs, index_dir):
    ingest_paths([docs], index_dir, OLD)
    for path in docs.iterdir():
        path.write_bytes(b"")  # every file now fails: "no text to index"
    with pytest.raises(IndexNotFoundError, match="left as it was"):
        rebuild(index_dir, embedder=NEW)
    assert not (index_dir / CURRENT_NAME).exists()
    assert read_manifest(data_dir(index_dir)).embedder_id == "hash-32"


def test_a_rebuild_waits_for_no_one_while_another_holds_the_index(tmp_path, docs, index_dir):
    ingest_paths([docs], index_dir, OLD)
    with WriteLock(index_dir), pytest.raises(IndexLockedError):
        rebuild(index_dir, embedder=NEW)  # the build ran; the switch needs the lock
    assert read_manifest(data_dir(index_dir)).embedder_id == "hash-32"
    assert rebuild(index_dir, embedder=NEW).resumed  # and is finished next time


def test_the_old_index_keeps_working_without_a_rebuild(tmp_path, docs, index_dir):
    """An index made with another embedder than today's default opens with its own."""
    ingest_paths([docs], index_dir, OLD)
    with IndexWriter(index_dir) as writer:
        assert writer.embedder.id == "hash-32"
    with Retriever.open(index_dir) as retriever:
        assert retriever.search("kilómetro", k=1)[0].source.endswith("politica.md")


def test_a_configured_embedder_must_match_the_index(tmp_path, docs, index_dir, monkeypatch):
    ingest_paths([docs], index_dir, OLD)
    monkeypatch.setenv("RAG_EMBEDDER", "hash-64")
    with pytest.raises(IndexMismatchError, match="RAG_EMBEDDER"):
        Retriever.open(index_dir)


CHILD = """
import sys, time
from rag.index.rebuild import rebuild
from rag.text.embedding import HashEmbedder

class Slow(HashEmbedder):
    def embed(self, texts):
        time.sleep(0.4)
        return super().embed(texts)

rebuild(sys.argv[1], embedder=Slow(64))
"""


def test_a_rebuild_killed_half_way_leaves_the_old_index_answering(tmp_path, index_dir):
    folder = many_docs(tmp_path / "docs", count=8)
    ingest_paths([folder], index_dir, OLD)
    before = chunk_rows(index_dir)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(index_dir)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stderr=subprocess.PIPE,
    )
    target = index_dir / "gen-1"
    deadline = time.monotonic() + 60
    while ok_documents(target) < 3:
        assert child.poll() is None, child.stderr.read().decode()
        assert time.monotonic() < deadline, "the rebuild did not get going"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()

    # Half a new index sits beside the old one, which is still the live one.
    assert 3 <= ok_documents(target) < 8
    assert not (index_dir / CURRENT_NAME).exists()
    assert chunk_rows(index_dir) == before
    with Retriever.open(index_dir) as retriever:
        assert retriever.embedder.id == "hash-32"
        assert retriever.search("meeting room number 7", k=1)[0].source.endswith("memo-7.txt")

    # The next rebuild with the same settings carries on from where it stopped.
    report = rebuild(index_dir, embedder=NEW)
    assert report.resumed and report.generation == "gen-1"
    assert 0 < len(report.build.added) <= 5
    fresh = tmp_path / "fresh"
    ingest_paths([folder], fresh, NEW)
    assert chunk_rows(data_dir(index_dir)) == chunk_rows(fresh)  # nothing twice


def test_an_unfinished_rebuild_of_other_settings_is_started_over(tmp_path, docs, index_dir):
    ingest_paths([docs], index_dir, OLD)
    ingest_paths([docs], index_dir / "gen-1", HashEmbedder(16))  # as if killed, other model
    report = rebuild(index_dir, embedder=NEW)
    assert not report.resumed
    assert read_manifest(data_dir(index_dir)).embedder_id == "hash-64"
    assert [g.name for g in generations(index_dir)] == [report.generation]
