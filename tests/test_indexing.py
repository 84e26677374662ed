"""The write path end to end with the hash embedder: add, change, remove, fail, reopen."""

import json
import sqlite3

import numpy as np
import pytest

from rag import IndexWriter, Retriever, ingest_paths
from rag.errors import IndexLockedError, IndexMismatchError, IndexNotFoundError
from rag.index.store import DB_NAME
from rag.index.vectors import VectorIndex
from rag.text.embedding import HashEmbedder


def chunk_ids(index_dir):
    with sqlite3.connect(index_dir / DB_NAME) as conn:
        return sorted(r[0] for r in conn.execute("SELECT id FROM chunks"))


def assert_consistent(index_dir, embedder):
    """The saved FAISS file holds exactly the chunk ids in SQLite: no orphans, no gaps."""
    vectors = VectorIndex.load(index_dir, embedder.dimension)
    assert sorted(vectors.ids().tolist()) == chunk_ids(index_dir)
    with sqlite3.connect(index_dir / DB_NAME) as conn:
        dupes = conn.execute(
            "SELECT count(*) FROM (SELECT doc_id, position FROM chunks "
            "GROUP BY doc_id, position HAVING count(*) > 1)"
        ).fetchone()[0]
        fts = conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
    assert dupes == 0
    assert fts == len(chunk_ids(index_dir))


def test_first_run_adds_everything_and_search_finds_it(docs, index_dir, embedder):
    report = ingest_paths([docs], index_dir, embedder)
    assert len(report.added) == 3 and not report.failed
    assert report.embedded == report.chunks > 0
    assert_consistent(index_dir, embedder)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["embedder"] == {"id": "hash-64", "dimension": 64, "normalized": True}
    with Retriever.open(index_dir, embedder) as r:
        hits = r.search("warranty for a lamp", k=2)
    assert hits[0].source.endswith("faq.txt")
    assert "three-year warranty" in hits[0].text


def test_rerun_without_changes_does_no_work(docs, index_dir, embedder):
    ingest_paths([docs], index_dir, embedder)
    before = chunk_ids(index_dir)
    report = ingest_paths([docs], index_dir, embedder)
    assert len(report.unchanged) == 3
    assert (report.added, report.updated, report.removed, report.embedded) == ([], [], [], 0)
    assert chunk_ids(index_dir) == before


def test_rerun_without_changes_leaves_the_vector_file_alone(docs, index_dir, embedder):
    ingest_paths([docs], index_dir, embedder)
    before = (index_dir / "vectors.faiss").stat().st_mtime_ns
    ingest_paths([docs], index_dir, embedder)
    assert (index_dir / "vectors.faiss").stat().st_mtime_ns == before


def test_changed_file_is_replaced_and_unchanged_passages_are_not_re_embedded(
    docs, index_dir, embedder
):
    ingest_paths([docs], index_dir, embedder)
    handbook = docs / "handbook.md"
    handbook.write_text(
        handbook.read_text(encoding="utf-8") + "\n## Parking\n\nThe car park opens at 7:00.\n",
        encoding="utf-8",
    )
    report = ingest_paths([docs], index_dir, embedder)
    assert [p.rsplit("/", 1)[-1] for p in report.updated] == ["handbook.md"]
    assert report.embedded == 1, "only the new passage needs a vector"
    assert_consistent(index_dir, embedder)
    with Retriever.open(index_dir, embedder) as r:
        assert "car park" in r.search("car park opening", k=1)[0].text


def test_removed_file_is_dropped_with_its_vectors(docs, index_dir, embedder):
    ingest_paths([docs], index_dir, embedder)
    (docs / "faq.txt").unlink()
    report = ingest_paths([docs], index_dir, embedder)
    assert [p.rsplit("/", 1)[-1] for p in report.removed] == ["faq.txt"]
    assert_consistent(index_dir, embedder)
    with Retriever.open(index_dir, embedder) as r:
        assert all(not h.source.endswith("faq.txt") for h in r.search("warranty", k=10))


def test_ingesting_another_folder_keeps_the_first(docs, tmp_path, index_dir, embedder):
    ingest_paths([docs], index_dir, embedder)
    other = tmp_path / "other"
    other.mkdir()
    (other / "note.txt").write_text("A note about parking.", encoding="utf-8")
    report = ingest_paths([other], index_dir, embedder)
    assert report.removed == [] and len(report.added) == 1
    with IndexWriter(index_dir, embedder) as w:
        assert len(w.store.documents()) == 4


def test_bad_file_fails_alone_and_is_recorded(docs, index_dir, embedder):
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (docs / "picture.gif").write_bytes(b"GIF89a")
    report = ingest_paths([docs], index_dir, embedder)
    assert len(report.added) == 3
    assert [p.rsplit("/", 1)[-1] for p, _ in report.failed] == ["broken.pdf"]
    assert "PDF" in report.failed[0][1]  # the reason says what is wrong with the file
    assert [p.rsplit("/", 1)[-1] for p, _ in report.skipped] == ["picture.gif"]
    with IndexWriter(index_dir, embedder) as w:
        broken = [d for d in w.store.documents() if d.path.endswith("broken.pdf")][0]
    assert broken.status == "failed" and broken.error


def test_a_good_version_is_dropped_when_the_file_turns_bad(docs, index_dir, embedder):
    ingest_paths([docs], index_dir, embedder)
    (docs / "faq.txt").write_bytes(b"")
    report = ingest_paths([docs], index_dir, embedder)
    assert [p.rsplit("/", 1)[-1] for p, _ in report.failed] == ["faq.txt"]
    assert_consistent(index_dir, embedder)
    with Retriever.open(index_dir, embedder) as r:
        assert all(not h.source.endswith("faq.txt") for h in r.search("warranty", k=10))


def test_dry_run_plans_without_changing_anything(docs, index_dir, embedder):
    with IndexWriter(index_dir, embedder) as w:
        plan = w.plan([docs])
    assert len(plan.add) == 3
    assert chunk_ids(index_dir) == []


def test_save_and_open_round_trip_gives_the_same_hits(docs, index_dir, embedder):
    ingest_paths([docs], index_dir, embedder)
    with Retriever.open(index_dir, embedder) as r:
        first = r.search("holiday days per year", k=4)
    copy = index_dir.parent / "copied-index"
    import shutil

    shutil.copytree(index_dir, copy)
    with Retriever.open(copy, embedder) as r:
        again = r.search("holiday days per year", k=4)
    assert [(h.chunk_id, h.text, h.score) for h in first] == [
        (h.chunk_id, h.text, h.score) for h in again
    ]


def test_a_lost_faiss_file_is_rebuilt_from_sqlite(docs, index_dir, embedder):
    ingest_paths([docs], index_dir, embedder)
    with Retriever.open(index_dir, embedder) as r:
        expected = [h.chunk_id for h in r.search("laptops replaced", k=3)]
    (index_dir / "vectors.faiss").write_bytes(b"garbage")
    with Retriever.open(index_dir, embedder) as r:
        assert [h.chunk_id for h in r.search("laptops replaced", k=3)] == expected


def test_another_embedder_is_refused(docs, index_dir, embedder):
    ingest_paths([docs], index_dir, embedder)
    with pytest.raises(IndexMismatchError, match="hash-64"):
        Retriever.open(index_dir, HashEmbedder(dimension=32))
    with pytest.raises(IndexMismatchError, match="RAG_EMBEDDER"):
        ingest_paths([docs], index_dir, HashEmbedder(dimension=32))


def test_missing_index_is_a_clear_error(tmp_path, embedder):
    with pytest.raises(IndexNotFoundError, match="python -m rag.ingest"):
        Retriever.open(tmp_path / "nowhere", embedder)


def test_second_writer_is_refused_with_a_clear_message(docs, index_dir, embedder):
    with IndexWriter(index_dir, embedder):
        with pytest.raises(IndexLockedError, match="another ingest"):
            with IndexWriter(index_dir, embedder):
                pass
    with IndexWriter(index_dir, embedder):  # released afterwards
        pass


def test_reader_sees_writes_committed_after_it_opened(docs, index_dir, embedder):
    ingest_paths([docs], index_dir, embedder)
    with Retriever.open(index_dir, embedder) as r:
        assert not any("submarine" in h.text for h in r.search("submarine", k=5))
        (docs / "new.txt").write_text("The yellow submarine is docked.", encoding="utf-8")
        ingest_paths([docs], index_dir, embedder)
        assert "submarine" in r.search("submarine", k=1)[0].text
        (docs / "new.txt").unlink()
        ingest_paths([docs], index_dir, embedder)
        assert not any("submarine" in h.text for h in r.search("submarine", k=5))


def test_vectors_are_the_stored_ones(docs, index_dir, embedder):
    ingest_paths([docs], index_dir, embedder)
    with sqlite3.connect(index_dir / DB_NAME) as conn:
        blob, text, title, heading = conn.execute(
            "SELECT vector, text, title, heading FROM chunks LIMIT 1"
        ).fetchone()
    from rag.text.chunking import embedding_input

    stored = np.frombuffer(blob, dtype=np.float32)
    assert np.allclose(stored, embedder.embed([embedding_input(title, heading, text)])[0])
