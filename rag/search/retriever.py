"""The read path: hybrid search over an index directory.

The dense list (FAISS, cosine on the embedder's vectors) and the lexical list (SQLite
FTS5, BM25 over stemmed words) each propose candidates. Every candidate is then scored by
both: its cosine, and its BM25 divided by the best BM25 among the candidates, mixed as
`w * cosine + (1 - w) * bm25_share`. Measured against reciprocal rank fusion on the
shared evaluation sets, this mix wins clearly where one scorer is much weaker than the
other (the English-only embedder on Spanish questions), because a weak list's ranks
count as much as a strong one's in RRF, while its nearly flat scores barely move a sum.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rag.config import SearchSettings, default_index_dir
from rag.errors import ConfigError, IndexNotFoundError
from rag.index import collections
from rag.index.collections import CollectionChoice
from rag.index.layout import current_generation, data_dir
from rag.index.manifest import Manifest, embedder_spec_for_index, read_manifest
from rag.index.store import DB_NAME, CollectionRecord, Store
from rag.index.vector_store import VectorFilter, open_vector_store
from rag.text.cooccurrence import best_sentence_share, word_weights
from rag.text.embedding import (
    BUNDLED_EMBEDDER_ID,
    MULTILINGUAL_EMBEDDER_ID,
    Embedder,
    embed_queries,
    make_embedder,
)
from rag.text.lexical import fts_match, guess_language, query_word_stems
from rag.types import EVERYTHING, Access, Hit

# The dense weight that did best on the shared evaluation sets for each bundled
# embedder (hit@1, all four sets; the README has the sweep). multilingual-e5's cosines
# sit in a narrow band (0.75 to 0.9 for most passages), so its scores need a larger
# weight to move the sum as much as MiniLM's wider ones. Other embedders get MiniLM's.
MEASURED_DENSE_WEIGHT = {BUNDLED_EMBEDDER_ID: 0.8, MULTILINGUAL_EMBEDDER_ID: 0.95}
DEFAULT_DENSE_WEIGHT = MEASURED_DENSE_WEIGHT[BUNDLED_EMBEDDER_ID]

# A question's content words (as stems, one per language) and the IDF weight of each.
QuestionWeights = tuple[list[tuple[str, ...]], list[float]]


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
        # Which data folder of the index is open (see rag.index.layout): a rebuild that
        # switches it is noticed by refresh().
        self._generation = self._generation_of(store)
        self._vectors = open_vector_store(store.path.parent, manifest.dimension, store)
        self._seen_version: int | None = None
        self._passages = 0  # counted again whenever a writer commits
        self._refresh_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        index_dir: Path | str | None = None,
        embedder: Embedder | None = None,
        settings: SearchSettings | None = None,
    ) -> Retriever:
        """Open an index for searching. Without an `embedder`, the one the index was
        built with (or RAG_EMBEDDER, which must then match it)."""
        index_dir = Path(index_dir) if index_dir else default_index_dir()
        manifest, store = cls._open_data(index_dir)
        if embedder is None:
            embedder = make_embedder(embedder_spec_for_index(index_dir))
        cls._check_embedder(manifest, embedder, index_dir)
        return cls(index_dir, manifest, store, embedder, settings or SearchSettings())

    @staticmethod
    def _open_data(index_dir: Path) -> tuple[Manifest, Store]:
        folder = data_dir(index_dir)
        manifest = read_manifest(folder)
        if not (folder / DB_NAME).is_file():
            raise IndexNotFoundError(
                f"index {index_dir} has no database ({DB_NAME}): re-run the ingest into it"
            )
        return manifest, Store(folder)

    def _generation_of(self, store: Store) -> str | None:
        folder = store.path.parent
        return None if folder == Path(self.index_dir) else folder.name

    @staticmethod
    def _check_embedder(manifest: Manifest, embedder: Embedder, index_dir: Path) -> None:
        # Checked against the manifest without loading the model when possible.
        dimension = embedder.dimension or manifest.dimension
        manifest.check_compatible(Manifest(embedder.id, dimension, manifest.chunker), index_dir)

    def close(self) -> None:
        self._vectors.close()
        self.store.close()

    def __enter__(self) -> Retriever:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def refresh(self) -> None:
        """Catch up with commits made by a writer since the last search (cheap if none),
        and with a rebuild that replaced the index's data."""
        with self._refresh_lock:
            if current_generation(self.index_dir) != self._generation:
                self._reopen()
            version = self.store.data_version()
            if version != self._seen_version:
                self._vectors.sync(self.store)
                self._passages = self.store.passage_count()
                self._seen_version = version

    def _reopen(self) -> None:
        """Switch to the data a rebuild made live, with its embedder if that changed."""
        manifest, store = self._open_data(self.index_dir)
        embedder = self.embedder
        if manifest.embedder_id != embedder.id:
            embedder = make_embedder(embedder_spec_for_index(self.index_dir))
        self._check_embedder(manifest, embedder, self.index_dir)
        # The old connection is dropped, not closed: a search in another thread may be
        # reading through it this moment; it closes once nothing holds it.
        self.manifest, self.store, self.embedder = manifest, store, embedder
        self._vectors = open_vector_store(store.path.parent, manifest.dimension, store)
        self._generation = self._generation_of(store)
        self._seen_version = None

    def collections(self, access: Access = EVERYTHING) -> list[CollectionRecord]:
        """The collections `access` may read, with their document and passage counts."""
        self.refresh()
        return collections.visible(self.store, access)

    def _vector_filter(
        self, collection_ids: list[int] | None, source: str | None
    ) -> VectorFilter | None:
        """What the dense search may return (None: anything). A source glob becomes the
        ids of the documents it matches, which every vector store can filter on."""
        if collection_ids is None and not source:
            return None
        documents = self.store.document_ids_for(collection_ids, source) if source else None
        return VectorFilter.of(collection_ids, documents)

    def question_weights(self, query: str) -> QuestionWeights:
        """The question's content words (as stems, one per language) and their IDF in this
        index: how much each word says about which passage answers it."""
        self.refresh()
        word_stems = query_word_stems(query)
        frequencies = self.store.passage_frequencies(
            [stem for stems in word_stems for stem in stems]
        )
        return word_stems, word_weights(word_stems, self._passages, frequencies)

    def weights_for(self, query: str) -> tuple[float, float]:
        """(dense weight, sentence weight) for this question: leaning on its words if the
        embedder does not know its language."""
        known = self.embedder.languages
        if known is None or guess_language(query) in known:
            weight = self.settings.dense_weight
            if weight is None:
                weight = MEASURED_DENSE_WEIGHT.get(self.embedder.id, DEFAULT_DENSE_WEIGHT)
            return weight, self.settings.sentence_weight
        settings = self.settings
        return settings.dense_weight_other_language, settings.sentence_weight_other_language

    def search(
        self,
        query: str,
        k: int = 5,
        source: str | None = None,
        dense_weight: float | None = None,
        collection: CollectionChoice = None,
        access: Access = EVERYTHING,
    ) -> list[Hit]:
        """The k best passages for `query`, best first, from collections `access` may read.

        `collection` is the name of the collection to search, or a list of names (None:
        every collection the caller may read; naming one it may not read is refused as
        if it did not exist). `source` keeps only files whose path or name matches a glob
        ('*.pdf', '*/policies/*'). `dense_weight` (0 to 1) overrides the settings for
        this call: 0 is lexical search only, 1 dense only.
        """
        if not isinstance(query, str) or not query.strip():
            raise ConfigError("the search query is empty: type a question or some keywords")
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        weight, sentence_weight = self.weights_for(query)
        if dense_weight is not None:
            weight = dense_weight
        if not 0.0 <= weight <= 1.0:
            raise ConfigError(f"dense_weight must be between 0 and 1, got {weight}")
        self.refresh()
        collection_ids = collections.resolve(self.store, collection, access)
        if collection_ids == []:  # granted no collection: there is nothing to find
            return []
        depth = max(self.settings.candidates, k)
        match = fts_match(query)

        # Candidates from each side.
        vector = embed_queries(self.embedder, [query])[0] if weight > 0 else None
        cosine: dict[int, float] = {}
        if vector is not None:
            where = self._vector_filter(collection_ids, source)
            cosine = dict(self._vectors.search(vector, depth, where))
        bm25: dict[int, float] = {}
        if match and weight < 1:
            bm25 = dict(self.store.lexical_search(match, depth, source, collection_ids))

        # Each candidate scored by both sides.
        if vector is not None:
            cosine |= self._vectors.similarities(vector, [c for c in bm25 if c not in cosine])
        if match and weight < 1:
            bm25 |= self.store.lexical_scores(match, [c for c in cosine if c not in bm25])
        best_bm25 = max(bm25.values(), default=0.0) or 1.0
        fused = {
            cid: weight * cosine.get(cid, 0.0) + (1 - weight) * bm25.get(cid, 0.0) / best_bm25
            for cid in cosine.keys() | bm25.keys()
        }

        # Ties break on chunk id so the same index and query always give the same order.
        best = sorted(fused, key=lambda cid: (-fused[cid], cid))
        rows = None
        if sentence_weight > 0 and match:
            depth = max(self.settings.rerank_depth, k)
            rows = self.store.chunk_rows(best[:depth])  # the hits are read from these too
            word_stems, weights = self.question_weights(query)
            for cid, row in rows.items():
                fused[cid] += sentence_weight * best_sentence_share(row.text, word_stems, weights)
            best = sorted(best[:depth], key=lambda cid: (-fused[cid], cid))
        best = best[: k * 2]
        if rows is None:
            rows = self.store.chunk_rows(best)
        hits = []
        for cid in best:
            row = rows.get(cid)
            if row is None:  # deleted by a writer after this search's snapshot
                continue
            hits.append(
                Hit(
                    chunk_id=cid,
                    text=row.text,
                    source=row.path,
                    page=row.page,
                    heading=row.heading,
                    title=row.title,
                    score=fused[cid],
                    dense_score=cosine.get(cid),
                    lexical_score=bm25.get(cid),
                    start=row.start,
                    end=row.end,
                    collection=row.collection,
                )
            )
            if len(hits) == k:
                break
        return hits
