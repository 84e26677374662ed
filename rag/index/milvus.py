"""The Milvus vector store: Milvus Lite (a file in the index's data folder, one process at
a time) or a Milvus server or cluster by URI, through the same pymilvus client.

Each index keeps its vectors in one Milvus collection (a Milvus "collection" is a table,
not one of ours): `chunks` in a Milvus Lite file, `ragdesk_<index uid>` on a server, so
several indexes can share one. Rows are (chunk id, document id, collection id, vector);
the ids are the database's, so a search filtered by our collections or documents is a
Milvus filter expression, evaluated by Milvus. Writes are upserts keyed by chunk id, so
writing a chunk again (a repair, a retried run) never stores it twice.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from rag.errors import ConfigError, IndexLockedError
from rag.index.store import Store
from rag.index.vector_store import MILVUS_LITE, VectorFilter

MILVUS_LITE_FILE = "vectors.milvus.db"
LITE_COLLECTION = "chunks"
SERVER_COLLECTION_PREFIX = "ragdesk_"
WRITE_BATCH = 1000  # rows per upsert or delete call: well under Milvus's message limits
READ_BATCH = 10_000

# Milvus Lite runs its server in threads of the process that opened the file; it stays up
# until released. Counted here, so the last store closed in a process lets the file go
# (a writer elsewhere can then open it).
_LITE_USERS: dict[str, int] = {}
_LITE_LOCK = threading.Lock()


def _pymilvus():
    try:
        import pymilvus
    except ImportError:
        raise ConfigError(
            "the Milvus vector store needs pymilvus: install it with "
            "`pip install 'pymilvus[milvus-lite]'` (or set RAG_VECTOR_STORE=faiss)"
        ) from None
    return pymilvus


class MilvusVectors:
    """Implements rag.index.vector_store.VectorStore on a Milvus collection."""

    kind = "milvus"

    def __init__(self, client, name: str, dimension: int, approximate: bool, lite_path: str = ""):
        self.client = client
        self.name = name
        self.dimension = dimension
        self.approximate = approximate
        self._lite_path = lite_path
        self._lock = threading.RLock()

    @classmethod
    def open(cls, folder: Path, dimension: int, store: Store, uri: str) -> MilvusVectors:
        """`uri`: "milvus-lite" for a file in `folder`, else a Milvus server's URI."""
        pymilvus = _pymilvus()
        if uri == MILVUS_LITE:
            path = str((Path(folder) / MILVUS_LITE_FILE).absolute())
            # A locked file is reported below, once and clearly, not as its traceback.
            logging.getLogger("milvus_lite.server_manager").setLevel(logging.CRITICAL)
            with _LITE_LOCK:
                try:
                    client = pymilvus.MilvusClient(path)
                except pymilvus.MilvusException as exc:
                    raise IndexLockedError(
                        f"the Milvus Lite file {path} could not be opened ({exc.message}); "
                        "Milvus Lite serves one process at a time: stop the other one (the "
                        "app, or an ingest), or run a Milvus server and set RAG_VECTOR_STORE "
                        "to its URI"
                    ) from None
                _LITE_USERS[path] = _LITE_USERS.get(path, 0) + 1
            self = cls(client, LITE_COLLECTION, dimension, approximate=False, lite_path=path)
        else:
            try:
                client = pymilvus.MilvusClient(
                    uri=uri, token=os.environ.get("RAG_MILVUS_TOKEN", ""), timeout=30
                )
            except pymilvus.MilvusException as exc:
                raise ConfigError(
                    f"the Milvus server at RAG_VECTOR_STORE={uri} cannot be reached "
                    f"({exc.message}): check the URI and RAG_MILVUS_TOKEN"
                ) from None
            name = SERVER_COLLECTION_PREFIX + store.uid()
            self = cls(client, name, dimension, approximate=True)
        self._ensure_collection()
        return self

    def _ensure_collection(self) -> None:
        pymilvus = _pymilvus()
        client = self.client
        if client.has_collection(self.name):
            fields = client.describe_collection(self.name)["fields"]
            vector = next(f for f in fields if f["name"] == "vector")
            if vector["params"].get("dim") == self.dimension:
                client.load_collection(self.name)
                return
            client.drop_collection(self.name)  # another embedder's vectors: refilled by sync
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", pymilvus.DataType.INT64, is_primary=True)
        schema.add_field("doc_id", pymilvus.DataType.INT64)
        schema.add_field("collection_id", pymilvus.DataType.INT64)
        schema.add_field("vector", pymilvus.DataType.FLOAT_VECTOR, dim=self.dimension)
        index = client.prepare_index_params()
        # Exact in Milvus Lite (like the FAISS default); a server picks its own index.
        kind = "AUTOINDEX" if self.approximate else "FLAT"
        index.add_index(field_name="vector", index_type=kind, metric_type="IP")
        client.create_collection(self.name, schema=schema, index_params=index)
        client.load_collection(self.name)

    # -- writing ------------------------------------------------------------------------

    def add(self, ids, vectors, documents, collections) -> None:
        if len(ids) == 0:
            return
        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dimension)
        documents = np.broadcast_to(np.asarray(documents, np.int64), ids.shape)
        collections = np.broadcast_to(np.asarray(collections, np.int64), ids.shape)
        with self._lock:
            for at in range(0, len(ids), WRITE_BATCH):
                rows = [
                    {
                        "id": int(ids[i]),
                        "doc_id": int(documents[i]),
                        "collection_id": int(collections[i]),
                        "vector": vectors[i].tolist(),
                    }
                    for i in range(at, min(at + WRITE_BATCH, len(ids)))
                ]
                self.client.upsert(self.name, rows)

    def remove(self, ids) -> None:
        ids = [int(i) for i in ids]
        with self._lock:
            for at in range(0, len(ids), WRITE_BATCH):
                self.client.delete(self.name, ids=ids[at : at + WRITE_BATCH])

    def sync(self, store: Store) -> None:
        """Hold exactly the database's chunks. Cheap when they agree: the writer stores a
        document's vectors after committing it, dropping the old ones first, and new ids
        are always the highest; so a run killed in between leaves either fewer vectors,
        or more, or the highest id missing, and the same count with the same highest id
        means nothing was lost."""
        with self._lock:
            wanted = store.chunk_count()
            top = store.highest_chunk_id()
            if self.count() == wanted and (wanted == 0 or self._holds_top(top)):
                return
            have = self.ids()
            want = store.chunk_ids()
            self.remove(np.setdiff1d(have, want, assume_unique=True))
            missing = np.setdiff1d(want, have, assume_unique=True)
            for batch in store.iter_vectors(only=missing.tolist()):
                self.add(
                    batch.ids, batch.matrix(self.dimension), batch.documents, batch.collections
                )
            self.flush()

    def _holds_top(self, top: int) -> bool:
        found = self.client.query(self.name, filter=f"id >= {top}", output_fields=["id"], limit=2)
        return [row["id"] for row in found] == [top]

    def flush(self) -> None:
        with self._lock:
            self.client.flush(self.name)

    def clear(self) -> None:
        with self._lock:
            self.client.drop_collection(self.name)
            self._ensure_collection()

    def close(self) -> None:
        with self._lock:
            self.client.close()
        if self._lite_path:
            with _LITE_LOCK:
                _LITE_USERS[self._lite_path] -= 1
                if _LITE_USERS[self._lite_path] == 0:
                    del _LITE_USERS[self._lite_path]
                    from milvus_lite.server_manager import server_manager_instance

                    server_manager_instance.release_server(self._lite_path)

    # -- reading ------------------------------------------------------------------------

    def count(self) -> int:
        with self._lock:
            rows = self.client.query(self.name, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def ids(self) -> np.ndarray:
        found: list[int] = []
        with self._lock:
            iterator = self.client.query_iterator(
                self.name, batch_size=READ_BATCH, filter="id >= 0", output_fields=["id"]
            )
            try:
                while rows := iterator.next():
                    found += [row["id"] for row in rows]
            finally:
                iterator.close()
        return np.sort(np.array(found, dtype=np.int64))

    def search(
        self, query: np.ndarray, k: int, where: VectorFilter | None = None
    ) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        expression = _expression(where)
        if expression is None:
            return []  # a filter that keeps nothing
        with self._lock:
            found = self.client.search(
                self.name,
                data=[np.asarray(query, dtype=np.float32).reshape(self.dimension).tolist()],
                limit=k,
                filter=expression,
                output_fields=[],
                search_params={"metric_type": "IP"},
            )
        return [(int(hit["id"]), float(hit["distance"])) for hit in found[0]]

    def similarities(self, query: np.ndarray, ids: list[int]) -> dict[int, float]:
        if not ids:
            return {}
        with self._lock:
            rows = self.client.get(self.name, ids=[int(i) for i in ids], output_fields=["vector"])
        if not rows:
            return {}
        vectors = np.array([row["vector"] for row in rows], dtype=np.float32)
        scores = vectors @ np.asarray(query, dtype=np.float32).reshape(self.dimension)
        return {int(row["id"]): float(s) for row, s in zip(rows, scores, strict=True)}


def _expression(where: VectorFilter | None) -> str | None:
    """A Milvus filter for `where`: "" for none, None for one that keeps nothing."""
    if where is None or where.is_empty:
        return ""
    parts = []
    for field, values in (("collection_id", where.collections), ("doc_id", where.documents)):
        if values is not None:
            if not values:
                return None
            parts.append(f"{field} in [{', '.join(str(int(v)) for v in values)}]")
    return " and ".join(parts)
