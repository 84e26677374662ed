"""The small value types passed between stages."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    """A passage of a document, located by character offsets into the document text.

    `key` is derived from the document's content hash and the passage's position, so
    re-ingesting unchanged content yields the same keys.
    """

    key: str
    position: int  # 0-based order within the document
    text: str
    start: int  # offsets into the document text (see rag.text.chunking.document_text)
    end: int
    page: int | None  # 1-based, or None for formats without pages
    heading: str  # heading path joined with " > ", "" when there is none


@dataclass(frozen=True)
class Hit:
    """One search result."""

    chunk_id: int
    text: str
    source: str  # the file path as ingested
    page: int | None
    heading: str
    title: str
    score: float  # the fused score used for ranking (higher is better)
    dense_score: float | None = None  # cosine similarity to the query (None: dense search off)
    lexical_score: float | None = None  # BM25, higher is better (None: no query word matched)
    # Where the passage sits in its document's text (see rag.text.chunking.document_text), so
    # neighbouring passages of one document can be told apart and joined.
    start: int | None = None
    end: int | None = None
    collection: str = "default"  # the name of the collection its document belongs to

    def as_dict(self) -> dict:
        return {
            "chunk_id": self.chunk_id,
            "source": self.source,
            "collection": self.collection,
            "page": self.page,
            "heading": self.heading,
            "title": self.title,
            "score": self.score,
            "dense_score": self.dense_score,
            "lexical_score": self.lexical_score,
            "start": self.start,
            "end": self.end,
            "text": self.text,
        }


@dataclass(frozen=True)
class DocumentRecord:
    """What the index knows about one ingested file."""

    id: int
    path: str
    sha256: str
    size: int
    mtime: float
    format: str
    title: str
    pages: int | None
    status: str  # "ok" or "failed"
    error: str
    warnings: tuple[str, ...]
    chunk_count: int
    ingested_at: str
    collection: str = "default"  # the name of the collection it belongs to
