"""The index's SQLite database: documents, chunks (with their vectors) and the FTS5 table.

SQLite is the source of truth. Each chunk row carries its own vector, so the FAISS file
is a cache that can always be brought up to date from here (see rag.index.vectors). Every change
to one document happens in one transaction: a killed process leaves the last commit.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rag.errors import ConfigError, IndexMismatchError
from rag.types import Chunk, DocumentRecord

DB_NAME = "index.sqlite3"

# Bumped when the tables change. An older database is upgraded in place when it is
# opened (see _upgrade); a newer one is refused rather than misread.
SCHEMA_VERSION = 2

# Every index has this collection; documents stored before collections existed are in it.
DEFAULT_COLLECTION = "default"
DEFAULT_COLLECTION_ID = 1

_DOCUMENTS = """
CREATE TABLE IF NOT EXISTS {table} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id INTEGER NOT NULL DEFAULT 1 REFERENCES collections(id),
    path TEXT NOT NULL,
    name TEXT NOT NULL,  -- file name, for filters like '*.pdf' or 'policy_*'
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    format TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    pages INTEGER,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error TEXT NOT NULL DEFAULT '',
    warnings TEXT NOT NULL DEFAULT '[]',
    chunk_count INTEGER NOT NULL DEFAULT 0,
    ingested_at TEXT NOT NULL,
    -- A file may be in several collections (as separate documents), once in each.
    UNIQUE (collection_id, path)
)"""

# The columns a version-1 documents table had, copied as they are by _upgrade.
_V1_DOCUMENT_COLUMNS = (
    "id, path, name, sha256, size, mtime, format, language, title, pages, status, error, "
    "warnings, chunk_count, ingested_at"
)

_SCHEMA = [
    # Named bodies of documents in one index (HR, engineering, a client's contracts).
    # `docs_dir` is where uploads to the collection are saved; '' for the default
    # collection, whose folder is the configured documents folder.
    """CREATE TABLE IF NOT EXISTS collections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        description TEXT NOT NULL DEFAULT '',
        docs_dir TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL
    )""",
    # Facts about the index itself: `uid` names its vectors in a shared vector store (a
    # Milvus server), so two indexes never mistake each other's vectors for their own.
    "CREATE TABLE IF NOT EXISTS index_facts (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT OR IGNORE INTO index_facts (key, value) VALUES ('uid', lower(hex(randomblob(8))))",
    # Keys for the HTTP API made before keys belonged to people: no longer honoured (they
    # live in rag.users now), only counted, so the server can say they stopped working.
    """CREATE TABLE IF NOT EXISTS api_keys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        digest TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    )""",
    f"INSERT OR IGNORE INTO collections (id, name, created_at) VALUES "
    f"({DEFAULT_COLLECTION_ID}, '{DEFAULT_COLLECTION}', strftime('%Y-%m-%dT%H:%M:%S+00:00'))",
    _DOCUMENTS.format(table="documents"),
    # AUTOINCREMENT: a chunk id is never reused, so a stale FAISS id can only point at
    # nothing, never at another passage, and new chunks always have ids above older ones.
    """CREATE TABLE IF NOT EXISTS chunks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        position INTEGER NOT NULL,
        text TEXT NOT NULL,
        heading TEXT NOT NULL,
        title TEXT NOT NULL,
        page INTEGER,
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        embed_hash TEXT NOT NULL,
        vector BLOB NOT NULL,
        UNIQUE (doc_id, key)
    )""",
    "CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks (doc_id, position)",
    "CREATE INDEX IF NOT EXISTS chunks_by_embed_hash ON chunks (embed_hash)",
    "CREATE INDEX IF NOT EXISTS documents_by_path ON documents (path)",
    # What BM25 searches: each chunk's stemmed words (see rag.text.lexical), and its title
    # and heading likewise. Standalone, keyed by chunk id, written in the same transaction
    # as the chunk. The tokenizer also folds accents, for anything typed into a MATCH.
    """CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5 (
        body, context, tokenize = 'unicode61 remove_diacritics 2'
    )""",
]
_BEFORE_DOCUMENTS = _SCHEMA.index(_DOCUMENTS.format(table="documents"))

_DOCUMENT_COLUMNS = (
    "d.id, d.path, d.sha256, d.size, d.mtime, d.format, d.title, d.pages, d.status, d.error, "
    "d.warnings, d.chunk_count, d.ingested_at, k.name"
)
_DOCUMENTS_SELECT = (
    f"SELECT {_DOCUMENT_COLUMNS} FROM documents d JOIN collections k ON k.id = d.collection_id"
)


# A collection with its counts; `name` compares ignoring case (the column's collation).
_COLLECTIONS_SELECT = (
    "SELECT k.id, k.name, k.description, k.docs_dir, k.created_at, count(d.id), "
    "coalesce(sum(d.status = 'failed'), 0), coalesce(sum(d.chunk_count), 0) "
    "FROM collections k LEFT JOIN documents d ON d.collection_id = k.id"
)


def _document_filter(collections: Sequence[int] | None, source: str | None) -> tuple[str, list]:
    """A WHERE condition on documents `d` (and its parameters): in one of these
    collections (None: any), and with a path or file name matching the glob `source`
    ('*.pdf', 'handbook*'; None: any)."""
    conditions, params = [], []
    if collections is not None:
        conditions.append(f"d.collection_id IN ({','.join('?' * len(collections))})")
        params += list(collections)
    if source:
        conditions.append("(d.path GLOB ? OR d.name GLOB ?)")
        params += [source, source]
    return " AND ".join(conditions) or "1", params


def _create_or_upgrade(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables of a new database, or upgrade an older one, in one transaction
    (two processes opening a new index at once cannot interleave)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise IndexMismatchError(
                f"{path} was written by a newer version of this product (schema {version}, "
                f"this one reads up to {SCHEMA_VERSION}): upgrade the product to open it"
            )
        has_documents = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'documents'"
        ).fetchone()
        # First the tables an upgrade leaves alone, with the default collection that
        # upgraded documents join; then the documents (upgraded) and what refers to them.
        for statement in _SCHEMA[:_BEFORE_DOCUMENTS]:
            conn.execute(statement)
        if has_documents and version < 2:
            _upgrade(conn)
        for statement in _SCHEMA[_BEFORE_DOCUMENTS:]:
            conn.execute(statement)
        if version != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _upgrade(conn: sqlite3.Connection) -> None:
    """Version 1 (one body of documents, a path at most once) to 2 (collections): every
    document joins the default collection, keeping its id, so its chunks, vectors and
    lexical rows stay as they are and nothing is embedded again.

    SQLite cannot change a UNIQUE constraint in place, so the documents table is copied
    into a new one and renamed (the steps SQLite's documentation gives for any schema
    change); foreign keys are off on this connection here, so nothing cascades.
    """
    conn.execute(_DOCUMENTS.format(table="documents_v2"))
    conn.execute(
        f"INSERT INTO documents_v2 ({_V1_DOCUMENT_COLUMNS}) "
        f"SELECT {_V1_DOCUMENT_COLUMNS} FROM documents"
    )
    conn.execute("DROP TABLE documents")
    conn.execute("ALTER TABLE documents_v2 RENAME TO documents")


@dataclass(frozen=True)
class NewChunk:
    """A chunk ready to store: its passage, where it came from, and its vector."""

    chunk: Chunk
    title: str
    embed_hash: str
    vector: np.ndarray
    terms: str  # the analysed text for the lexical index
    context_terms: str  # the analysed title and heading


@dataclass(frozen=True)
class VectorBatch:
    """Some chunks' ids, document ids, collection ids and vectors (float32 bytes)."""

    ids: np.ndarray
    documents: np.ndarray
    collections: np.ndarray
    vectors: bytes

    @classmethod
    def of(cls, rows) -> VectorBatch:
        return cls(
            np.array([r[0] for r in rows], dtype=np.int64),
            np.array([r[1] for r in rows], dtype=np.int64),
            np.array([r[2] for r in rows], dtype=np.int64),
            b"".join(r[3] for r in rows),
        )

    def matrix(self, dimension: int) -> np.ndarray:
        return np.frombuffer(self.vectors, dtype=np.float32).reshape(len(self.ids), dimension)


@dataclass(frozen=True)
class CollectionRecord:
    """A collection as stored, with its document and passage counts."""

    id: int
    name: str
    description: str
    docs_dir: str
    created_at: str
    documents: int
    failed: int
    chunks: int


@dataclass(frozen=True)
class ChunkRow:
    id: int
    text: str
    heading: str
    title: str
    page: int | None
    path: str
    position: int
    doc_id: int
    start: int
    end: int
    collection: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """One SQLite connection to an index database, safe to share between threads."""

    def __init__(self, index_dir: Path):
        self.path = Path(index_dir) / DB_NAME
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._lock = threading.RLock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (what a crashed ingest is); only an
        # OS crash could lose the last commits, and those are re-done by the next run.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # After the upgrade: it rebuilds the documents table, which must not cascade.
        _create_or_upgrade(self._conn, self.path)
        self._conn.execute("PRAGMA foreign_keys=ON")
        # A per-connection view of the FTS vocabulary (document frequencies), kept in the
        # temp schema so opening an index for reading never writes to it.
        self._conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab "
            "USING fts5vocab(main, chunks_fts, col)"
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap "is my view stale?" test."""
        with self._lock:
            return self._conn.execute("PRAGMA data_version").fetchone()[0]

    # -- collections --------------------------------------------------------------------

    def collections(self) -> list[CollectionRecord]:
        """Every collection, the default first, then by name, with its counts."""
        with self._lock:
            rows = self._conn.execute(
                f"{_COLLECTIONS_SELECT} GROUP BY k.id ORDER BY k.id != ?, k.name COLLATE NOCASE",
                (DEFAULT_COLLECTION_ID,),
            ).fetchall()
        return [CollectionRecord(*row) for row in rows]

    def collection(self, name: str) -> CollectionRecord | None:
        """The collection of this name (names are compared ignoring case), or None."""
        with self._lock:
            row = self._conn.execute(
                f"{_COLLECTIONS_SELECT} WHERE k.name = ? GROUP BY k.id", (name,)
            ).fetchone()
        return CollectionRecord(*row) if row else None

    def create_collection(
        self, name: str, description: str, docs_dir: str, id: int | None = None
    ) -> int:
        """Add a collection; returns its id (`id`, when given: a copy of another index's
        collection keeps its id). Inside a transaction."""
        try:
            cur = self._conn.execute(
                "INSERT INTO collections (id, name, description, docs_dir, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (id, name, description, docs_dir, _now()),
            )
        except sqlite3.IntegrityError:
            raise ConfigError(f"a collection named {name!r} already exists") from None
        return cur.lastrowid

    def update_collection(
        self, collection: int, *, name: str | None = None, description: str | None = None
    ) -> None:
        """Rename a collection or change its description. Inside a transaction."""
        try:
            if name is not None:
                self._conn.execute(
                    "UPDATE collections SET name = ? WHERE id = ?", (name, collection)
                )
        except sqlite3.IntegrityError:
            raise ConfigError(f"a collection named {name!r} already exists") from None
        if description is not None:
            self._conn.execute(
                "UPDATE collections SET description = ? WHERE id = ?", (description, collection)
            )

    def last_collection_id(self) -> int:
        """The highest collection id ever given out here (deleted ones too)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'collections'"
            ).fetchone()
        return row[0] if row else DEFAULT_COLLECTION_ID

    def reserve_collection_ids(self, up_to: int) -> None:
        """Never give out collection ids up to `up_to`: a rebuilt index keeps its old
        index's ids, deleted ones included, since access grants (rag.users) name
        collections by id and must never come to name a new collection."""
        with self.transaction():
            self._conn.execute(
                "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'collections'",
                (up_to,),
            )

    def delete_collection(self, collection: int) -> None:
        """Drop an empty collection (its documents are removed first, with their vectors,
        by the caller). Inside a transaction."""
        self._conn.execute("DELETE FROM collections WHERE id = ?", (collection,))

    # -- API keys -----------------------------------------------------------------------

    def api_key_count(self, live_only: bool = False) -> int:
        query = "SELECT count(*) FROM api_keys" + (" WHERE revoked_at IS NULL" if live_only else "")
        with self._lock:
            return self._conn.execute(query).fetchone()[0]

    # -- documents ----------------------------------------------------------------------

    def documents(self, collections: Sequence[int] | None = None) -> list[DocumentRecord]:
        """The documents of these collections (None: of every collection), by path."""
        where, params = _document_filter(collections, None)
        with self._lock:
            rows = self._conn.execute(
                f"{_DOCUMENTS_SELECT} WHERE {where} ORDER BY d.path, k.name", params
            ).fetchall()
        return [_document(row) for row in rows]

    def document(self, path: str, collection: int) -> DocumentRecord | None:
        with self._lock:
            row = self._conn.execute(
                f"{_DOCUMENTS_SELECT} WHERE d.path = ? AND d.collection_id = ?",
                (path, collection),
            ).fetchone()
        return _document(row) if row else None

    def replace_document(
        self,
        *,
        collection: int,
        path: str,
        sha256: str,
        size: int,
        mtime: float,
        format: str,
        language: str,
        title: str,
        pages: int | None,
        warnings: Sequence[str],
        chunks: Sequence[NewChunk],
    ) -> tuple[list[int], list[int], int]:
        """Store a successfully parsed document, replacing any earlier version of the path
        in that collection.

        Returns (removed chunk ids, added chunk ids, the document's id) for the vector
        store to follow. Must be called inside `transaction()`.
        """
        removed = self._delete_document(path, collection)
        cur = self._conn.execute(
            "INSERT INTO documents (collection_id, path, name, sha256, size, mtime, format, "
            "language, title, pages, status, warnings, chunk_count, ingested_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ok', ?, ?, ?)",
            (
                collection,
                path,
                Path(path).name,
                sha256,
                size,
                mtime,
                format,
                language,
                title,
                pages,
                json.dumps(list(warnings)),
                len(chunks),
                _now(),
            ),
        )
        doc_id = cur.lastrowid
        added = []
        for item in chunks:
            c = item.chunk
            cur = self._conn.execute(
                "INSERT INTO chunks (doc_id, key, position, text, heading, title, page, start, "
                "end, embed_hash, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    doc_id,
                    c.key,
                    c.position,
                    c.text,
                    c.heading,
                    item.title,
                    c.page,
                    c.start,
                    c.end,
                    item.embed_hash,
                    np.asarray(item.vector, dtype=np.float32).tobytes(),
                ),
            )
            added.append(cur.lastrowid)
            self._conn.execute(
                "INSERT INTO chunks_fts (rowid, body, context) VALUES (?, ?, ?)",
                (cur.lastrowid, item.terms, item.context_terms),
            )
        return removed, added, doc_id

    def record_failure(
        self,
        *,
        collection: int,
        path: str,
        sha256: str,
        size: int,
        mtime: float,
        format: str,
        error: str,
    ) -> list[int]:
        """Mark a path as failed (with its reason), dropping any earlier good version.

        The earlier version is dropped because its content no longer matches the file:
        answering from it would cite text the file does not contain any more.
        """
        removed = self._delete_document(path, collection)
        self._conn.execute(
            "INSERT INTO documents (collection_id, path, name, sha256, size, mtime, format, "
            "status, error, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'failed', ?, ?)",
            (collection, path, Path(path).name, sha256, size, mtime, format, error, _now()),
        )
        return removed

    def touch_document(self, path: str, collection: int, mtime: float) -> None:
        self._conn.execute(
            "UPDATE documents SET mtime = ? WHERE path = ? AND collection_id = ?",
            (mtime, path, collection),
        )

    def remove_document(self, path: str, collection: int) -> list[int]:
        """Drop a path and its chunks; returns the removed chunk ids. Inside a transaction."""
        return self._delete_document(path, collection)

    def _delete_document(self, path: str, collection: int) -> list[int]:
        row = self._conn.execute(
            "SELECT id FROM documents WHERE path = ? AND collection_id = ?", (path, collection)
        ).fetchone()
        if row is None:
            return []
        ids = [r[0] for r in self._conn.execute("SELECT id FROM chunks WHERE doc_id = ?", row)]
        self._conn.execute(
            "DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE doc_id = ?)", row
        )
        self._conn.execute("DELETE FROM chunks WHERE doc_id = ?", row)
        self._conn.execute("DELETE FROM documents WHERE id = ?", row)
        return ids

    # -- chunks -------------------------------------------------------------------------

    def vectors_by_embed_hash(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors already computed for these passages, so unchanged text is not re-embedded."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        with self._lock:
            for i in range(0, len(unique), 500):
                batch = unique[i : i + 500]
                marks = ",".join("?" * len(batch))
                for h, blob in self._conn.execute(
                    f"SELECT embed_hash, vector FROM chunks WHERE embed_hash IN ({marks})", batch
                ):
                    found.setdefault(h, np.frombuffer(blob, dtype=np.float32))
        return found

    def chunk_count(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def chunk_ids(self, up_to: int | None = None) -> np.ndarray:
        sql = "SELECT id FROM chunks" + (" WHERE id <= ?" if up_to is not None else "")
        with self._lock:
            rows = self._conn.execute(sql, () if up_to is None else (up_to,)).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def iter_vectors(
        self, after_id: int = 0, batch: int = 4096, only: Sequence[int] | None = None
    ) -> Iterator[VectorBatch]:
        """The vectors of chunks with id > after_id (or of the chunks `only`), in batches,
        with each one's document and collection."""
        select = (
            "SELECT c.id, c.doc_id, d.collection_id, c.vector FROM chunks c "
            "JOIN documents d ON d.id = c.doc_id "
        )
        if only is not None:
            ids = sorted(int(i) for i in only)
            for at in range(0, len(ids), 500):
                part = ids[at : at + 500]
                with self._lock:
                    rows = self._conn.execute(
                        select + f"WHERE c.id IN ({','.join('?' * len(part))}) ORDER BY c.id",
                        part,
                    ).fetchall()
                if rows:
                    yield VectorBatch.of(rows)
            return
        last = after_id
        while True:
            with self._lock:
                rows = self._conn.execute(
                    select + "WHERE c.id > ? ORDER BY c.id LIMIT ?", (last, batch)
                ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield VectorBatch.of(rows)

    def chunk_owners(self, up_to: int | None = None) -> tuple[np.ndarray, ...]:
        """(chunk ids, their document ids, their collection ids), ascending by chunk id."""
        sql = (
            "SELECT c.id, c.doc_id, d.collection_id FROM chunks c "
            "JOIN documents d ON d.id = c.doc_id"
            + (" WHERE c.id <= ?" if up_to is not None else "")
            + " ORDER BY c.id"
        )
        with self._lock:
            rows = self._conn.execute(sql, () if up_to is None else (up_to,)).fetchall()
        table = np.array(rows, dtype=np.int64).reshape(-1, 3)
        return table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy()

    def uid(self) -> str:
        """This index's own random id (see the index_facts table)."""
        with self._lock:
            return self._conn.execute("SELECT value FROM index_facts WHERE key = 'uid'").fetchone()[
                0
            ]

    def highest_chunk_id(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT coalesce(max(id), 0) FROM chunks").fetchone()[0]

    def document_ids_for(
        self, collections: Sequence[int] | None = None, source: str | None = None
    ) -> list[int]:
        """Ids of the documents in these collections (None: any) whose path or file name
        matches the glob `source` (None: any)."""
        where, params = _document_filter(collections, source)
        with self._lock:
            rows = self._conn.execute(f"SELECT d.id FROM documents d WHERE {where}", params)
            return [r[0] for r in rows]

    def chunk_rows(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._conn.execute(
                "SELECT c.id, c.text, c.heading, c.title, c.page, d.path, c.position, c.doc_id, "
                "c.start, c.end, k.name FROM chunks c JOIN documents d ON d.id = c.doc_id "
                f"JOIN collections k ON k.id = d.collection_id WHERE c.id IN ({marks})",
                list(ids),
            ).fetchall()
        return {r[0]: ChunkRow(*r) for r in rows}

    def lexical_scores(self, match: str, ids: Sequence[int]) -> dict[int, float]:
        """BM25 scores of these chunks for a MATCH expression (absent: no term matched)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        # "(rowid + 0)", not "rowid": given a bare rowid IN (...), SQLite runs the FTS
        # query once per id, and each run recounts every term's matches for BM25's IDF
        # (80 ms for 100 ids at 100,000 passages). As an expression it filters one scan
        # of the matches instead, and BM25 is computed only for the rows kept (7 ms).
        with self._lock:
            rows = self._conn.execute(
                f"SELECT rowid, -bm25(chunks_fts, 1.0, 0.5) FROM chunks_fts "
                f"WHERE chunks_fts MATCH ? AND (rowid + 0) IN ({marks})",
                [match, *ids],
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def lexical_search(
        self,
        match: str,
        limit: int,
        source_pattern: str | None = None,
        collections: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """(chunk id, BM25 score, higher is better) for an FTS5 MATCH expression."""
        # Passage text counts most; the heading and title help short, well-titled passages.
        sql = (
            "SELECT rowid, -bm25(chunks_fts, 1.0, 0.5) AS score FROM chunks_fts "
            "WHERE chunks_fts MATCH ?"
        )
        params: list = [match]
        if source_pattern or collections is not None:
            where, filter_params = _document_filter(collections, source_pattern)
            # "(rowid + 0)": one scan of the matches, see lexical_scores.
            sql += (
                " AND (rowid + 0) IN (SELECT c.id FROM chunks c "
                f"JOIN documents d ON d.id = c.doc_id WHERE {where})"
            )
            params += filter_params
        sql += " ORDER BY score DESC, rowid LIMIT ?"
        params.append(limit)
        with self._lock:
            return [(r[0], r[1]) for r in self._conn.execute(sql, params)]

    def passage_count(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def passage_frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """How many passages' text holds each stem, for IDF weights."""
        marks = ",".join("?" * len(terms))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT term, doc FROM temp.chunks_vocab WHERE col = 'body' AND term IN ({marks})",
                list(terms),
            ).fetchall()
        return {term: count for term, count in rows}

    def stats(self, collections: Sequence[int] | None = None) -> dict[str, int]:
        """Documents, failed documents and chunks in these collections (None: all)."""
        where, params = _document_filter(collections, None)
        with self._lock:
            docs, failed, chunks = self._conn.execute(
                "SELECT count(*), coalesce(sum(d.status = 'failed'), 0), "
                f"coalesce(sum(d.chunk_count), 0) FROM documents d WHERE {where}",
                params,
            ).fetchone()
        return {"documents": docs, "failed": failed, "chunks": chunks}


def _document(row) -> DocumentRecord:
    return DocumentRecord(
        id=row[0],
        path=row[1],
        sha256=row[2],
        size=row[3],
        mtime=row[4],
        format=row[5],
        title=row[6],
        pages=row[7],
        status=row[8],
        error=row[9],
        warnings=tuple(json.loads(row[10] or "[]")),
        chunk_count=row[11],
        ingested_at=row[12],
        collection=row[13],
    )
