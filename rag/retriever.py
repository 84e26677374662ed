"""The read path: hybrid search over an index directory.

Dense (FAISS, cosine on the embedder's vectors) and lexical (SQLite FTS5, BM25) lists are
fused by weighted reciprocal rank fusion: each list contributes weight / (rrf_k + rank).
Rank fusion needs no score calibration between two very different scorers, and the
lexical list rescues what an English-only embedder misses in other languages.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rag.config import SearchSettings, default_index_dir
from rag.embedding import Embedder, make_embedder
from rag.errors import ConfigError, IndexNotFoundError
from rag.lexical import fts_match
from rag.manifest import Manifest, read_manifest
from rag.store import DB_NAME, Store
from rag.types import Hit
from rag.vectors import VectorIndex


class Retriever:
    """Search one index. Cheap to open; the embedder loads on the first search."""

    def __init__(
        self,
        index_dir: Path,
        manifest: Manifest,
        store: Store,
        embedder: Embedder,
        settings: SearchSettings,
    ):
        self.index_dir = index_dir
        self.manifest = manifest
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self._vectors = VectorIndex.load(index_dir, manifest.dimension)
        self._seen_version: int | None = None
        self._refresh_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        index_dir: Path | str | None = None,
        embedder: Embedder | None = None,
        settings: SearchSettings | None = None,
    ) -> Retriever:
        index_dir = Path(index_dir) if index_dir else default_index_dir()
        manifest = read_manifest(index_dir)
        if not (index_dir / DB_NAME).is_file():
            raise IndexNotFoundError(
                f"index {index_dir} has no database ({DB_NAME}): re-run the ingest into it"
            )
        if embedder is None:
            embedder = make_embedder()
        # The embedder is checked against the manifest without loading it when possible.
        dimension = embedder.dimension or manifest.dimension
        manifest.check_compatible(Manifest(embedder.id, dimension, manifest.chunker), index_dir)
        return cls(index_dir, manifest, Store(index_dir), embedder, settings or SearchSettings())

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Retriever:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def refresh(self) -> None:
        """Catch up with commits made by a writer since the last search (cheap if none)."""
        with self._refresh_lock:
            version = self.store.data_version()
            if version != self._seen_version:
                self._vectors.sync(self.store)
                self._seen_version = version

    def search(
        self,
        query: str,
        k: int = 5,
        source: str | None = None,
        dense_weight: float | None = None,
        lexical_weight: float | None = None,
    ) -> list[Hit]:
        """The k best passages for `query`, best first.

        `source` keeps only files whose path or name matches a glob ('*.pdf',
        '*/policies/*'). Weights override the settings for this call (0 turns a list off).
        """
        if not isinstance(query, str) or not query.strip():
            raise ConfigError("the search query is empty: type a question or some keywords")
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        s = self.settings
        dense_weight = s.dense_weight if dense_weight is None else dense_weight
        lexical_weight = s.lexical_weight if lexical_weight is None else lexical_weight
        self.refresh()
        depth = max(s.candidates, k)

        dense: list[tuple[int, float]] = []
        if dense_weight > 0:
            allowed = self.store.chunk_ids_for_sources(source) if source else None
            vector = self.embedder.embed([query])[0]
            dense = self._vectors.search(vector, depth, allowed)
        lexical: list[tuple[int, float]] = []
        match = fts_match(query)
        if lexical_weight > 0 and match:
            lexical = self.store.lexical_search(match, depth, source)

        fused: dict[int, float] = {}
        for weight, ranked in ((dense_weight, dense), (lexical_weight, lexical)):
            for rank, (chunk_id, _) in enumerate(ranked, start=1):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (s.rrf_k + rank)
        # Ties break on chunk id so the same index and query always give the same order.
        best = sorted(fused, key=lambda cid: (-fused[cid], cid))[: k * 2]
        rows = self.store.chunk_rows(best)
        dense_by_id = {cid: (rank, score) for rank, (cid, score) in enumerate(dense, 1)}
        lexical_by_id = {cid: (rank, score) for rank, (cid, score) in enumerate(lexical, 1)}
        hits = []
        for cid in best:
            row = rows.get(cid)
            if row is None:  # deleted by a writer after this search's snapshot
                continue
            d = dense_by_id.get(cid)
            lx = lexical_by_id.get(cid)
            hits.append(
                Hit(
                    chunk_id=cid,
                    text=row.text,
                    source=row.path,
                    page=row.page,
                    heading=row.heading,
                    title=row.title,
                    score=fused[cid],
                    dense_score=d[1] if d else None,
                    lexical_score=lx[1] if lx else None,
                    dense_rank=d[0] if d else None,
                    lexical_rank=lx[0] if lx else None,
                )
            )
            if len(hits) == k:
                break
        return hits
