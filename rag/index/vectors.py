"""The FAISS vector store (the default, embedded): an inner-product index whose ids are
chunk ids, in a file beside the database. See rag.index.vector_store for the protocol.

The file on disk is a cache of the vectors stored in SQLite. `sync()` brings it up to
date with the database after any crash or concurrent write: it adds chunks newer than
its highest id and drops ids the database no longer has. That is cheap because chunk ids
only grow (SQLite AUTOINCREMENT).

Small indexes are exact: a flat index (every vector scored) behind an id map. Past
`APPROXIMATE_ABOVE` vectors the index becomes an inverted file (IVF): k-means cells over
the vectors, and a search scores only the vectors of the `nprobe` cells nearest the
query. IVF rather than HNSW because an index here must forget vectors (a changed or
deleted document): IVF removes ids in place, HNSW cannot remove at all. The IVF keeps
the exact vectors (no compression), so a score it returns is the same cosine the flat
index gives; only which vectors get scored is approximate. Its cells are trained on the
vectors themselves, whenever the kind changes or the corpus has grown about 4x since
the last training (see `_needs_rebuild`); nothing changes for callers.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import faiss
import numpy as np

from rag.files import atomic_path
from rag.index.store import Store
from rag.index.vector_store import VectorFilter

VECTORS_NAME = "vectors.faiss"

# Where the flat index gives way to IVF. Measured here (384 dimensions, 2 shared cores,
# `scripts/benchmark.py --only scale`): a flat search reads every vector, so it costs
# ~0.14 ms per thousand (13.8 ms p50 at 100k: memory bandwidth, 150 MB a query), more than
# the whole 10 ms a search may take; IVF at 100k (632 cells, 16-19 probed) answers in
# ~1 ms with recall@10 0.99-1.0 against flat. At 30k flat still costs ~4 ms and is exact,
# and below it an IVF would have too few vectors to train good cells.
APPROXIMATE_ABOVE = 30_000

# IVF cells: about `LISTS_PER_SQRT * sqrt(n)` of them (faiss's own advice is 4-16 sqrt(n);
# fewer, larger cells train faster and need fewer probes for the same recall on 2 cores).
LISTS_PER_SQRT = 2
# k-means sees this many vectors per cell (faiss warns below 39): enough for stable cells,
# and training stays a few seconds at 1M vectors.
TRAINING_PER_LIST = 64
# Cells scored per query, as a share of all cells (never fewer than MIN_PROBES). Chosen
# for recall@10 >= 0.95 against the flat index: 0.988 at 100k with 16 probes of 632 cells
# (0.95 with 8); the 1M figure is in the README.
PROBE_SHARE = 0.03
MIN_PROBES = 16


def list_count(vectors: int) -> int:
    """How many IVF cells an index of this many vectors gets."""
    return max(1, int(LISTS_PER_SQRT * math.sqrt(vectors)))


def probe_count(lists: int) -> int:
    return min(lists, max(MIN_PROBES, math.ceil(PROBE_SHARE * lists)))


def _flat(dimension: int) -> faiss.Index:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def _ivf(ids: np.ndarray, vectors: np.ndarray, dimension: int) -> faiss.Index:
    """An IVF index over these vectors, its cells trained on (a sample of) them."""
    lists = list_count(len(ids))
    index = faiss.IndexIVFFlat(
        faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT
    )
    index.cp.spherical = True  # unit vectors, cosine: cell centres are unit vectors too
    sample = min(len(ids), TRAINING_PER_LIST * lists)
    # A fixed seed and the vectors in id order: the same database trains the same cells.
    rows = np.sort(np.random.default_rng(0).choice(len(ids), sample, replace=False))
    index.train(vectors[rows])
    # A hash table from id to (cell, offset): what reconstruct() and remove_ids() need.
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    index.add_with_ids(vectors, ids)
    index.nprobe = probe_count(lists)
    return index


def _is_ivf(index: faiss.Index) -> bool:
    return isinstance(index, faiss.IndexIVFFlat)


def _ids(index: faiss.Index) -> np.ndarray:
    if not _is_ivf(index):
        return faiss.vector_to_array(index.id_map).astype(np.int64)
    lists = index.invlists
    cells = [faiss.rev_swig_ptr(lists.get_ids(c), lists.list_size(c)) for c in range(index.nlist)]
    return np.concatenate([np.zeros(0, np.int64), *cells]).astype(np.int64)


def _contents(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of every vector the index holds, in the order of `_ids`."""
    if not _is_ivf(index):
        return _ids(index), index.index.reconstruct_n(0, index.ntotal)
    lists = index.invlists
    cells = [
        faiss.rev_swig_ptr(lists.get_codes(c), lists.list_size(c) * lists.code_size)
        for c in range(index.nlist)
    ]
    codes = np.concatenate([np.zeros(0, np.uint8), *cells])
    return _ids(index), codes.view(np.float32).reshape(-1, index.d)


class _Owners:
    """Which document and collection each vector belongs to, for filtered searches. Kept
    in memory, read from the database when a saved index is opened: a chunk never
    changes owner, so this never goes stale."""

    def __init__(self):
        self.ids = np.zeros(0, np.int64)
        self.documents = np.zeros(0, np.int64)
        self.collections = np.zeros(0, np.int64)

    def add(self, ids: np.ndarray, documents: np.ndarray, collections: np.ndarray) -> None:
        self.ids = np.concatenate([self.ids, ids])
        self.documents = np.concatenate([self.documents, documents])
        self.collections = np.concatenate([self.collections, collections])

    def remove(self, ids: np.ndarray) -> None:
        keep = ~np.isin(self.ids, ids)
        self.ids, self.documents = self.ids[keep], self.documents[keep]
        self.collections = self.collections[keep]

    def matching(self, where: VectorFilter) -> np.ndarray:
        keep = np.ones(len(self.ids), dtype=bool)
        if where.collections is not None:
            keep &= np.isin(self.collections, where.collections)
        if where.documents is not None:
            keep &= np.isin(self.documents, where.documents)
        return self.ids[keep]


class VectorIndex:
    """`approximate_above`: the size past which the index is IVF (tests pass a small one).

    The FAISS implementation of rag.index.vector_store.VectorStore: opened with `load`,
    `flush()` writes the file back to the folder it came from."""

    kind = "faiss"

    def __init__(self, dimension: int, approximate_above: int = APPROXIMATE_ABOVE):
        self.dimension = dimension
        self.folder: Path | None = None  # where flush() saves it; set by load()
        self.approximate_above = approximate_above
        self._index = _flat(dimension)
        self._owners: _Owners | None = _Owners()  # None: not read yet (a loaded file)
        self._filtered: tuple[tuple, np.ndarray] | None = None  # the last filter's ids
        self._lock = threading.RLock()
        # Whether this index differs from the file it was loaded from (or last saved to),
        # so a run that changed nothing does not rewrite the whole file.
        self.dirty = False

    @classmethod
    def load(
        cls, index_dir: Path, dimension: int, approximate_above: int = APPROXIMATE_ABOVE
    ) -> VectorIndex:
        """The saved index (flat or IVF), or an empty one if the file is missing or
        unreadable.

        Either way the caller follows with `sync()`, which restores whatever is missing.
        A saved index keeps its kind until vectors are added or removed.
        """
        self = cls(dimension, approximate_above)
        self.folder = Path(index_dir)
        path = self.folder / VECTORS_NAME
        if path.is_file():
            try:
                index = faiss.read_index(str(path))
            except RuntimeError:
                return self  # a damaged cache is rebuilt from the database by sync()
            if index.d != dimension:
                return self
            if isinstance(index, faiss.IndexIDMap2):
                self._index = index
            elif _is_ivf(index) and index.direct_map.type == faiss.DirectMap.Hashtable:
                index.nprobe = probe_count(index.nlist)  # this code's setting, not the file's
                self._index = index
            if self._index is index:
                self._owners = None  # read from the database by sync()
        return self

    @property
    def size(self) -> int:
        return self._index.ntotal

    def count(self) -> int:
        return self.size

    @property
    def approximate(self) -> bool:
        """Whether searches are approximate (IVF) rather than exact (flat)."""
        return _is_ivf(self._index)

    def ids(self) -> np.ndarray:
        with self._lock:
            return _ids(self._index)

    def _needs_rebuild(self, size: int) -> bool:
        """Whether an index of `size` vectors should be of another kind or retrained."""
        if not self.approximate:
            return size > self.approximate_above
        if size < self.approximate_above // 2:
            # Back to exact once well below the threshold; the margin keeps one document
            # going in and out around the threshold from retraining every time.
            return True
        # Cells trained for a quarter of this size hold 4x the vectors they were sized for.
        return list_count(size) >= 2 * self._index.nlist

    def _rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) > self.approximate_above:
            self._index = _ivf(ids, vectors, self.dimension)
        else:
            self._index = _flat(self.dimension)
            if len(ids):
                self._index.add_with_ids(vectors, ids)

    def add(self, ids, vectors, documents=0, collections=1) -> None:
        """Add vectors with their chunk ids, and the document and collection each belongs
        to (arrays as long as `ids`, or one value for all; tests of the index alone may
        leave them out)."""
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dimension)
        ids = np.asarray(ids, dtype=np.int64)
        with self._lock:
            if self._needs_rebuild(self.size + len(ids)):
                have_ids, have_vectors = _contents(self._index)
                self._rebuild(np.concatenate([have_ids, ids]), np.vstack([have_vectors, vectors]))
            else:
                self._index.add_with_ids(vectors, ids)
            if self._owners is not None:
                self._owners.add(
                    ids,
                    np.broadcast_to(np.asarray(documents, np.int64), ids.shape),
                    np.broadcast_to(np.asarray(collections, np.int64), ids.shape),
                )
            self._filtered = None
            self.dirty = True

    def remove(self, ids) -> None:
        if len(ids) == 0:
            return
        ids = np.asarray(ids, dtype=np.int64)
        with self._lock:
            self._index.remove_ids(ids)
            if self.approximate and self._needs_rebuild(self.size):
                self._rebuild(*_contents(self._index))
            if self._owners is not None:
                self._owners.remove(ids)
            self._filtered = None
            self.dirty = True

    def sync(self, store: Store) -> None:
        """Make this index hold exactly the chunks in the database."""
        with self._lock:
            have = self.ids()
            highest = int(have.max()) if len(have) else 0
            if self._owners is None:  # a saved file: its vectors' owners from the database
                self._owners = _Owners()
                self._owners.add(*store.chunk_owners(up_to=highest))
            # All new vectors in one add, so an index rebuilt from the database is trained
            # once, on all of them.
            batches = list(store.iter_vectors(after_id=highest))
            if batches:
                self.add(
                    np.concatenate([b.ids for b in batches]),
                    np.concatenate([np.frombuffer(b.vectors, dtype=np.float32) for b in batches]),
                    np.concatenate([b.documents for b in batches]),
                    np.concatenate([b.collections for b in batches]),
                )
            if self.size != store.chunk_count():
                # Some ids here were deleted from the database since this index was saved.
                stale = np.setdiff1d(have, store.chunk_ids(up_to=highest), assume_unique=True)
                self.remove(stale)

    def _allowed(self, where: VectorFilter) -> np.ndarray:
        """The ids a filtered search may return; kept until the next add or remove, so
        asking one collection many questions computes them once."""
        key = (where.collections, where.documents)
        if self._filtered is None or self._filtered[0] != key:
            self._filtered = (key, self._owners.matching(where))
        return self._filtered[1]

    def search(
        self, query: np.ndarray, k: int, where: VectorFilter | None = None
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the k nearest vectors, best first; with
        `where`, only among the vectors of those collections and documents."""
        if k <= 0 or self.size == 0:
            return []
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dimension)
        with self._lock:
            index = self._index
            selector = None
            allowed_ids = None if where is None or where.is_empty else self._allowed(where)
            if allowed_ids is not None:
                if len(allowed_ids) == 0:
                    return []
                selector = faiss.IDSelectorBatch(np.asarray(allowed_ids, dtype=np.int64))
            if _is_ivf(index):
                probes = index.nprobe
                if allowed_ids is not None:
                    # A filter keeping a share of the vectors: probe that many times more
                    # cells, so about as many allowed vectors are scored as without it.
                    probes = math.ceil(probes * self.size / len(allowed_ids))
                params = faiss.SearchParametersIVF(sel=selector, nprobe=min(index.nlist, probes))
            else:
                params = None if selector is None else faiss.SearchParameters(sel=selector)
            scores, ids = index.search(query, min(k, self.size), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def similarities(self, query: np.ndarray, ids: list[int]) -> dict[int, float]:
        """Cosine similarity of the query to each of these stored vectors."""
        found: list[int] = []
        vectors = []
        with self._lock:
            for i in ids:
                try:
                    vectors.append(self._index.reconstruct(int(i)))
                except RuntimeError:
                    # Committed by a writer after this index last synced: the next search
                    # will know it. Until then it simply has no dense score.
                    continue
                found.append(int(i))
        if not found:
            return {}
        scores = np.stack(vectors) @ np.asarray(query, dtype=np.float32).reshape(self.dimension)
        return {i: float(s) for i, s in zip(found, scores, strict=True)}

    def save(self, index_dir: Path) -> None:
        """Write atomically: readers see the previous file or this one, never a torn one."""
        with atomic_path(Path(index_dir) / VECTORS_NAME) as tmp, self._lock:
            faiss.write_index(self._index, tmp)
            self.dirty = False

    def flush(self) -> None:
        """Save the file if anything changed since it was loaded or last saved."""
        if self.dirty and self.folder is not None:
            self.save(self.folder)

    def clear(self) -> None:
        """Forget every vector (the next sync() reads them all from the database)."""
        with self._lock:
            self._index, self._owners, self._filtered = _flat(self.dimension), _Owners(), None
            self.dirty = True

    def close(self) -> None:
        """Nothing to release: the file is written by flush()."""
