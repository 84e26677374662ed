"""VectorIndex: the flat index, the IVF it becomes past a size, and the switch between them.

A small `approximate_above` keeps these fast; the kinds behave the same at any size.
"""

import faiss
import numpy as np
import pytest

from rag.index.store import DB_NAME, DEFAULT_COLLECTION_ID, NewChunk, Store
from rag.index.vector_store import VectorFilter
from rag.index.vectors import VECTORS_NAME, VectorIndex
from rag.types import Chunk

DIM = 16
THRESHOLD = 300


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Clustered, like embeddings: 20 centres, points near them.
    centres = rng.standard_normal((20, DIM))
    x = centres[rng.integers(20, size=n)] + 0.3 * rng.standard_normal((n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_top(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return [int(ids[i]) for i in np.argsort(-(vectors @ query), kind="stable")[:k]]


@pytest.fixture
def data():
    ids = np.arange(1, 1001, dtype=np.int64)
    return ids, unit_vectors(len(ids))


def test_stays_flat_up_to_the_threshold_then_becomes_ivf(data):
    ids, vectors = data
    index = VectorIndex(DIM, approximate_above=THRESHOLD)
    index.add(ids[:THRESHOLD], vectors[:THRESHOLD])
    assert not index.approximate and index.size == THRESHOLD
    index.add(ids[THRESHOLD : THRESHOLD + 1], vectors[THRESHOLD : THRESHOLD + 1])
    assert index.approximate and index.size == THRESHOLD + 1
    assert sorted(index.ids().tolist()) == ids[: THRESHOLD + 1].tolist()


def test_ivf_finds_what_flat_finds_and_scores_it_the_same(data):
    ids, vectors = data
    flat = VectorIndex(DIM, approximate_above=len(ids))
    ivf = VectorIndex(DIM, approximate_above=THRESHOLD)
    flat.add(ids, vectors)
    ivf.add(ids, vectors)
    assert ivf.approximate and not flat.approximate
    overlap = []
    for query in unit_vectors(50, seed=1):
        exact = dict(flat.search(query, 10))
        approx = dict(ivf.search(query, 10))
        overlap.append(len(exact.keys() & approx.keys()) / 10)
        for i in exact.keys() & approx.keys():  # the IVF keeps exact vectors
            assert approx[i] == pytest.approx(exact[i], abs=1e-5)
    assert np.mean(overlap) >= 0.95


def test_deleted_vectors_are_never_found_and_can_come_back(data):
    ids, vectors = data
    index = VectorIndex(DIM, approximate_above=THRESHOLD)
    index.add(ids, vectors)
    gone = ids[::3]
    index.remove(gone)
    assert index.approximate and index.size == len(ids) - len(gone)
    for q in range(0, len(ids), 97):
        found = {i for i, _ in index.search(vectors[q], 20)}
        assert not found & set(gone.tolist())
    assert index.similarities(vectors[0], [int(gone[0])]) == {}
    index.add(gone, vectors[::3])  # a document replaced by the same text comes back
    assert index.size == len(ids)
    assert index.search(vectors[0], 1)[0][0] == int(ids[0])


def test_shrinking_well_below_the_threshold_goes_back_to_exact(data):
    ids, vectors = data
    index = VectorIndex(DIM, approximate_above=THRESHOLD)
    index.add(ids, vectors)
    index.remove(ids[: len(ids) - THRESHOLD // 2 + 1])  # one under half the threshold
    assert not index.approximate
    kept, kept_vectors = ids[-(THRESHOLD // 2 - 1) :], vectors[-(THRESHOLD // 2 - 1) :]
    assert sorted(index.ids().tolist()) == kept.tolist()
    query = unit_vectors(1, seed=5)[0]
    assert [i for i, _ in index.search(query, 5)] == exact_top(kept_vectors, kept, query, 5)


def test_growth_retrains_the_cells(data):
    ids, vectors = data
    index = VectorIndex(DIM, approximate_above=100)
    index.add(ids[:101], vectors[:101])
    cells = index._index.nlist
    index.add(ids[101:], vectors[101:])  # about 10x: the cells are sized again
    assert index._index.nlist >= 2 * cells
    assert sorted(index.ids().tolist()) == ids.tolist()


@pytest.mark.parametrize("approximate_above", [THRESHOLD, 10_000])
def test_a_filter_keeps_only_allowed_ids_and_finds_their_best(data, approximate_above):
    ids, vectors = data
    index = VectorIndex(DIM, approximate_above=approximate_above)
    index.add(ids, vectors, documents=ids)  # each vector its own document
    allowed = ids[5::50]  # 2% of the vectors
    query = unit_vectors(1, seed=2)[0]
    found = [i for i, _ in index.search(query, 5, VectorFilter.of(documents=allowed))]
    assert found == exact_top(vectors[5::50], allowed, query, 5)
    assert index.search(query, 5, VectorFilter.of(documents=[])) == []


@pytest.mark.parametrize("approximate_above", [THRESHOLD, 10_000])
def test_similarities_reconstruct_stored_vectors(data, approximate_above):
    ids, vectors = data
    index = VectorIndex(DIM, approximate_above=approximate_above)
    index.add(ids, vectors)
    query = vectors[10]
    sims = index.similarities(query, [11, 500, 99_999])  # 99_999 is not in the index
    assert set(sims) == {11, 500}
    assert sims[500] == pytest.approx(float(vectors[499] @ query), abs=1e-6)


@pytest.mark.parametrize("approximate_above", [THRESHOLD, 10_000])
def test_save_and_load_give_the_same_index(tmp_path, data, approximate_above):
    ids, vectors = data
    index = VectorIndex(DIM, approximate_above=approximate_above)
    index.add(ids, vectors)
    index.remove(ids[:10])
    index.save(tmp_path)
    assert not index.dirty
    loaded = VectorIndex.load(tmp_path, DIM, approximate_above=approximate_above)
    assert loaded.approximate == index.approximate
    assert sorted(loaded.ids().tolist()) == sorted(index.ids().tolist())
    for query in unit_vectors(5, seed=3):
        assert loaded.search(query, 10) == index.search(query, 10)
    assert not list(tmp_path.glob(".vectors-*"))  # written through a temporary file


def test_a_flat_file_written_by_earlier_code_still_loads(tmp_path, data):
    ids, vectors = data
    old = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))  # what every earlier version saved
    old.add_with_ids(vectors, ids)
    faiss.write_index(old, str(tmp_path / VECTORS_NAME))
    loaded = VectorIndex.load(tmp_path, DIM, approximate_above=THRESHOLD)
    assert not loaded.approximate and loaded.size == len(ids)
    query = vectors[42]
    assert [i for i, _ in loaded.search(query, 3)] == exact_top(vectors, ids, query, 3)
    loaded.add(np.array([5000]), unit_vectors(1, seed=9))  # the next add makes it IVF
    assert loaded.approximate and loaded.size == len(ids) + 1


def test_a_damaged_or_foreign_file_loads_empty(tmp_path):
    (tmp_path / VECTORS_NAME).write_bytes(b"not a faiss file")
    assert VectorIndex.load(tmp_path, DIM).size == 0
    faiss.write_index(faiss.IndexFlatIP(DIM), str(tmp_path / VECTORS_NAME))  # no id map
    assert VectorIndex.load(tmp_path, DIM).size == 0


def _store_with(index_dir, vectors: np.ndarray, per_doc: int = 50) -> Store:
    index_dir.mkdir(parents=True, exist_ok=True)
    store = Store(index_dir)
    with store.transaction():
        for doc in range(0, len(vectors), per_doc):
            chunks = [
                NewChunk(
                    chunk=Chunk(f"k{p}", p, f"text {doc} {p}", 0, 1, None, ""),
                    title="t",
                    embed_hash=f"h{doc}-{p}",
                    vector=vectors[doc + p],
                    terms=f"text {doc} {p}",
                    context_terms="t",
                )
                for p in range(min(per_doc, len(vectors) - doc))
            ]
            store.replace_document(
                collection=DEFAULT_COLLECTION_ID,
                path=f"doc{doc}.txt",
                sha256="0",
                size=1,
                mtime=0.0,
                format="txt",
                language="en",
                title="t",
                pages=None,
                warnings=(),
                chunks=chunks,
            )
    return store


def test_sync_rebuilds_an_ivf_from_the_database_and_follows_deletions(tmp_path, data):
    _, vectors = data
    index_dir = tmp_path / "index"
    store = _store_with(index_dir, vectors)
    assert (index_dir / DB_NAME).is_file()
    index = VectorIndex.load(index_dir, DIM, approximate_above=THRESHOLD)  # no file yet
    index.sync(store)
    assert index.approximate
    assert sorted(index.ids().tolist()) == store.chunk_ids().tolist()
    index.save(index_dir)
    with store.transaction():
        removed = store.remove_document("doc0.txt", 1) + store.remove_document("doc500.txt", 1)
    reopened = VectorIndex.load(index_dir, DIM, approximate_above=THRESHOLD)
    reopened.sync(store)
    assert reopened.approximate
    assert sorted(reopened.ids().tolist()) == store.chunk_ids().tolist()
    assert not {i for i, _ in reopened.search(vectors[0], 20)} & set(removed)
    store.close()
