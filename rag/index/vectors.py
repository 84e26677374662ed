"""The FAISS side of an index: an ID-mapped inner-product index whose ids are chunk ids.

The file on disk is a cache of the vectors stored in SQLite. `sync()` brings it up to
date with the database after any crash or concurrent write: it adds chunks newer than
its highest id and drops ids the database no longer has. That is cheap because chunk ids
only grow (SQLite AUTOINCREMENT).
"""

from __future__ import annotations

import threading
from pathlib import Path

import faiss
import numpy as np

from rag.files import atomic_path
from rag.index.store import Store

VECTORS_NAME = "vectors.faiss"


class VectorIndex:
    def __init__(self, dimension: int):
        self.dimension = dimension
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self._lock = threading.RLock()
        # Whether this index differs from the file it was loaded from (or last saved to),
        # so a run that changed nothing does not rewrite the whole file.
        self.dirty = False

    @classmethod
    def load(cls, index_dir: Path, dimension: int) -> VectorIndex:
        """The saved index, or an empty one if the file is missing or unreadable.

        Either way the caller follows with `sync()`, which restores whatever is missing.
        """
        self = cls(dimension)
        path = Path(index_dir) / VECTORS_NAME
        if path.is_file():
            try:
                index = faiss.read_index(str(path))
                if index.d == dimension and isinstance(index, faiss.IndexIDMap2):
                    self._index = index
            except RuntimeError:
                pass  # a damaged cache is rebuilt from the database by sync()
        return self

    @property
    def size(self) -> int:
        return self._index.ntotal

    def ids(self) -> np.ndarray:
        with self._lock:
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dimension)
        with self._lock:
            self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
            self.dirty = True

    def remove(self, ids) -> None:
        if len(ids) == 0:
            return
        with self._lock:
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))
            self.dirty = True

    def sync(self, store: Store) -> None:
        """Make this index hold exactly the chunks in the database."""
        with self._lock:
            have = self.ids()
            highest = int(have.max()) if len(have) else 0
            for ids, blob in store.iter_vectors(after_id=highest):
                self.add(ids, np.frombuffer(blob, dtype=np.float32))
            if self.size != store.chunk_count():
                # Some ids here were deleted from the database since this index was saved.
                stale = np.setdiff1d(have, store.chunk_ids(up_to=highest), assume_unique=True)
                self.remove(stale)

    def search(
        self, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the k nearest vectors, best first."""
        if k <= 0 or self.size == 0:
            return []
        params = None
        if allowed_ids is not None:
            if len(allowed_ids) == 0:
                return []
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed_ids))
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dimension)
        with self._lock:
            scores, ids = self._index.search(query, min(k, self.size), params=params)
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
