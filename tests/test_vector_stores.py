"""The contract every vector store passes (rag.index.vector_store.VectorStore): the FAISS
file and Milvus Lite, the same tests. A Milvus server would run them by URI too."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from rag.errors import ConfigError
from rag.index.layout import data_dir
from rag.index.manifest import read_manifest
from rag.index.store import DB_NAME, Store
from rag.index.vector_store import VectorFilter, configured_kind, open_vector_store
from rag.index.writer import ingest_paths
from rag.search.retriever import Retriever

BACKENDS = ["faiss", "milvus-lite"]
DIM = 16


def unit(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch) -> str:
    monkeypatch.setenv("RAG_VECTOR_STORE", request.param)
    return request.param


@pytest.fixture
def empty(backend, tmp_path):
    """An empty vector store over an empty database."""
    store = Store(tmp_path)
    vectors = open_vector_store(tmp_path, DIM, store)
    yield vectors
    vectors.close()
    store.close()


def exact(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    scores = vectors @ query
    order = np.lexsort((ids, -scores))[:k]
    return ids[order].tolist()


def test_add_search_count_and_remove(empty):
    vectors = unit(200)
    ids = np.arange(1, 201)
    empty.add(ids, vectors, documents=ids // 10, collections=1 + ids % 2)
    empty.flush()
    assert empty.count() == 200
    assert empty.ids().tolist() == ids.tolist()
    query = unit(1, seed=9)[0]
    found = empty.search(query, 5)
    assert [i for i, _ in found] == exact(vectors, ids, query, 5)
    assert found[0][1] == pytest.approx(float(vectors[found[0][0] - 1] @ query), abs=1e-5)

    empty.remove(ids[:100])
    empty.flush()
    assert empty.count() == 100
    assert min(i for i, _ in empty.search(query, 50)) > 100


def test_filters_by_collection_and_by_document(empty):
    vectors = unit(300, seed=1)
    ids = np.arange(1, 301)
    documents, collections = ids // 10, 1 + ids % 3
    empty.add(ids, vectors, documents, collections)
    empty.flush()
    query = unit(1, seed=2)[0]

    def kept(mask):
        return exact(vectors[mask], ids[mask], query, 8)

    two = VectorFilter.of(collections=[2, 3])
    assert [i for i, _ in empty.search(query, 8, two)] == kept(collections != 1)
    some = VectorFilter.of(documents=[3, 7, 20])
    assert [i for i, _ in empty.search(query, 8, some)] == kept(np.isin(documents, [3, 7, 20]))
    both = VectorFilter.of(collections=[1], documents=[3, 7, 20])
    mask = (collections == 1) & np.isin(documents, [3, 7, 20])
    assert [i for i, _ in empty.search(query, 8, both)] == kept(mask)
    assert empty.search(query, 8, VectorFilter.of(collections=[])) == []
    assert empty.search(query, 8, VectorFilter.of(documents=[999])) == []


def test_similarities_leave_out_missing_ids(empty):
    vectors = unit(20, seed=3)
    empty.add(np.arange(1, 21), vectors, 1, 1)
    empty.flush()
    sims = empty.similarities(vectors[4], [5, 6, 99])
    assert set(sims) == {5, 6}
    assert sims[5] == pytest.approx(1.0, abs=1e-5)
    assert sims[6] == pytest.approx(float(vectors[5] @ vectors[4]), abs=1e-5)


@pytest.fixture
def indexed(backend, tmp_path, docs, embedder):
    """A real index (hash embedder) in two collections, on the backend under test."""
    index_dir = tmp_path / "index"
    ingest_paths([docs], index_dir, embedder)
    other = tmp_path / "other"
    other.mkdir()
    (other / "memo.md").write_text("# Memo\n\nThe parking garage closes at nine.\n")
    ingest_paths([other], index_dir, embedder, collection="facilities")
    return index_dir


def open_data(index_dir: Path):
    folder = data_dir(index_dir)
    store = Store(folder)
    return store, open_vector_store(folder, read_manifest(folder).dimension, store)


def test_a_store_is_filled_and_repaired_from_the_database(indexed):
    store, vectors = open_data(indexed)
    try:
        assert vectors.count() == store.chunk_count()
        assert vectors.ids().tolist() == store.chunk_ids().tolist()
        # Lost entirely (a new store, a deleted file): filled again by sync.
        vectors.clear()
        assert vectors.count() == 0
        vectors.sync(store)
        assert vectors.ids().tolist() == store.chunk_ids().tolist()
        # Behind: a document deleted in the database only (a writer killed before it
        # told the vectors) is dropped; syncing again changes nothing and adds no copy.
        with sqlite3.connect(data_dir(indexed) / DB_NAME) as conn:
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("DELETE FROM documents WHERE name = 'faq.txt'")
        vectors.sync(store)
        vectors.sync(store)
        assert vectors.ids().tolist() == store.chunk_ids().tolist()
        # Ahead: vectors of chunks the database no longer has are dropped too.
        vectors.add([10_000], np.ones((1, vectors.dimension), np.float32), 1, 1)
        vectors.sync(store)
        assert 10_000 not in vectors.ids().tolist()
    finally:
        vectors.close()
        store.close()


def test_searches_agree_across_backends(tmp_path, docs, embedder, monkeypatch):
    """The same index searched through each backend ranks the same passages."""
    results = {}
    for backend in BACKENDS:
        monkeypatch.setenv("RAG_VECTOR_STORE", backend)
        index_dir = tmp_path / backend
        ingest_paths([docs], index_dir, embedder)
        ingest_paths([docs], index_dir, embedder, collection="copy")
        with Retriever.open(index_dir, embedder) as retriever:
            results[backend] = [
                [(Path(h.source).name, h.collection, round(h.score, 4)) for h in hits]
                for hits in (
                    retriever.search("paid holiday days", k=4, dense_weight=1.0),
                    retriever.search("dieta diaria", k=4, collection="copy"),
                    retriever.search("warranty", k=4, source="*.txt", dense_weight=1.0),
                )
            ]
    assert results["milvus-lite"] == results["faiss"]
    assert {c for _, c, _ in results["faiss"][1]} == {"copy"}
    assert {n for n, _, _ in results["faiss"][2]} == {"faq.txt"}


def test_a_bad_vector_store_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("RAG_VECTOR_STORE", "qdrant")
    with pytest.raises(ConfigError, match="RAG_VECTOR_STORE='qdrant'.*milvus-lite"):
        configured_kind()
    monkeypatch.setenv("RAG_VECTOR_STORE", "http://milvus:19530")
    assert configured_kind() == "http://milvus:19530"


def test_rebuild_vectors_fills_a_switched_store_from_the_database(tmp_path, docs):
    from test_cli import cli

    cwd = tmp_path.resolve()
    index = str(cwd / "idx")
    assert cli(cwd, "rag.ingest", str(docs), "--index", index).returncode == 0
    switched = cli(
        cwd, "rag.ingest", "--rebuild-vectors", "--index", index, RAG_VECTOR_STORE="milvus-lite"
    )
    assert switched.returncode == 0, switched.stderr
    store = Store(cwd / "idx")
    try:
        chunks = store.chunk_count()
    finally:
        store.close()
    assert f"milvus vector store rebuilt from the database: {chunks} vectors" in switched.stdout
    assert (cwd / "idx" / "vectors.milvus.db").exists()
    found = cli(cwd, "rag.search", "dieta diaria", "--index", index, RAG_VECTOR_STORE="milvus-lite")
    assert found.returncode == 0 and "politica.md" in found.stdout
    missing = cli(cwd, "rag.ingest", "--rebuild-vectors", "--index", str(cwd / "none"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
