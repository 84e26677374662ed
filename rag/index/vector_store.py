"""The vector side of an index behind one small protocol, so it can live in an embedded
FAISS file (the default) or in a Milvus server (milvus-lite on one machine, a cluster by
URI), with the same code above it.

SQLite stays the source of truth: every chunk row holds its vector, its document and so
its collection. A vector store is an index over those rows that can always be brought
back in line with them (`sync`), so a store that was lost, is new, or missed the last
writes of a killed run is repaired from the database and never holds a chunk twice.
Chunk ids only grow (AUTOINCREMENT), which is what makes that repair cheap.

Choosing one: `RAG_VECTOR_STORE` is `faiss` (default), `milvus-lite` (a Milvus Lite file
in the index's data folder), or a Milvus server's URI (`http://host:19530`; a token in
`RAG_MILVUS_TOKEN`). Switching is a configuration change: the first writer or reader to
open the index fills the new store from the database (`python -m rag.ingest
--rebuild-vectors` does it on purpose, and starts it from empty).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rag.errors import ConfigError

if TYPE_CHECKING:
    from rag.index.store import Store

FAISS = "faiss"
MILVUS_LITE = "milvus-lite"


@dataclass(frozen=True)
class VectorFilter:
    """Which vectors a search may return: those of these collections and of these
    documents (None: any). Ids are the database's."""

    collections: tuple[int, ...] | None = None
    documents: tuple[int, ...] | None = None

    @classmethod
    def of(
        cls, collections: Sequence[int] | None = None, documents: Sequence[int] | None = None
    ) -> VectorFilter:
        return cls(
            None if collections is None else tuple(sorted(set(collections))),
            None if documents is None else tuple(sorted(set(documents))),
        )

    @property
    def is_empty(self) -> bool:
        """Whether it keeps everything (no filter at all)."""
        return self.collections is None and self.documents is None


class VectorStore(Protocol):
    """What the writer and the retriever need of a vector store. Vectors are unit length
    and scored by inner product (cosine); ids are chunk ids."""

    kind: str
    dimension: int
    approximate: bool  # whether search may miss a near vector (an approximate index)

    def sync(self, store: Store) -> None:
        """Hold exactly the chunks of the database: add those missing, drop the rest."""

    def add(self, ids, vectors, documents, collections) -> None:
        """Add vectors with the document and collection of each (arrays as long as
        `ids`, or one value for all)."""

    def remove(self, ids) -> None: ...

    def search(
        self, query: np.ndarray, k: int, where: VectorFilter | None = None
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine) of the k nearest vectors that pass `where`, best first."""

    def similarities(self, query: np.ndarray, ids: list[int]) -> dict[int, float]:
        """The cosine of the query to each of these vectors (missing ones left out)."""

    def count(self) -> int: ...

    def ids(self) -> np.ndarray: ...

    def flush(self) -> None:
        """Make what was added and removed durable (and visible to other processes)."""

    def clear(self) -> None:
        """Drop every vector (a rebuild from the database follows)."""

    def close(self) -> None: ...


def configured_kind() -> str:
    """`RAG_VECTOR_STORE`: faiss, milvus-lite or a Milvus URI."""
    value = (os.environ.get("RAG_VECTOR_STORE") or FAISS).strip()
    if value.lower() in (FAISS, MILVUS_LITE):
        return value.lower()
    if value.startswith(("http://", "https://", "tcp://", "unix:")):
        return value
    raise ConfigError(
        f"RAG_VECTOR_STORE={value!r} is not a vector store: use faiss (the default), "
        "milvus-lite, or a Milvus server's URI such as http://localhost:19530"
    )


def open_vector_store(folder: Path, dimension: int, store: Store, sync: bool = True) -> VectorStore:
    """The configured vector store of the index data in `folder`, brought in line with
    its database (unless `sync` is false)."""
    kind = configured_kind()
    if kind == FAISS:
        from rag.index.vectors import VectorIndex

        vectors: VectorStore = VectorIndex.load(folder, dimension)
    else:
        from rag.index.milvus import MilvusVectors

        vectors = MilvusVectors.open(folder, dimension, store, uri=kind)
    if sync:
        try:
            vectors.sync(store)
        except BaseException:
            vectors.close()
            raise
    return vectors
