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


# Roles, from most to least allowed (see rag.users).
ADMIN, EDITOR, READER = "admin", "editor", "reader"
ROLES = (ADMIN, EDITOR, READER)


@dataclass(frozen=True)
class Access:
    """What one caller may read and change, by collection id.

    Built by rag.users for a signed-in person or an API key; taken by the retriever, the
    assistant and the library, which filter by it where they read. `readable` and
    `writable` of None mean every collection (an admin, or the operator at the machine
    running a command line without a user).
    """

    user: str = ""  # "" for the operator at the machine
    role: str = ADMIN
    readable: frozenset[int] | None = None
    writable: frozenset[int] | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    def can_read(self, collection_id: int) -> bool:
        return self.readable is None or collection_id in self.readable

    def can_write(self, collection_id: int) -> bool:
        return self.writable is None or collection_id in self.writable


# The operator at the machine: a command line run without a user, the tests.
EVERYTHING = Access()
