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

from rag.types import Chunk, DocumentRecord

DB_NAME = "index.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
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
    ingested_at TEXT NOT NULL
);
-- AUTOINCREMENT: a chunk id is never reused, so a stale FAISS id can only point at nothing,
-- never at another passage, and new chunks always have ids above every older one.
CREATE TABLE IF NOT EXISTS chunks (
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
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks (doc_id, position);
CREATE INDEX IF NOT EXISTS chunks_by_embed_hash ON chunks (embed_hash);
-- What BM25 searches: each chunk's stemmed words (see rag.text.lexical), and its title and
-- heading likewise. Standalone, keyed by chunk id, written in the same transaction as the
-- chunk. The tokenizer also folds accents, for anything typed straight into a MATCH.
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5 (
    body, context, tokenize = 'unicode61 remove_diacritics 2'
);
"""

# A source filter matches the whole path or just the file name ('*.pdf', 'handbook*').
_IDS_FOR_SOURCES = (
    "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id "
    "WHERE d.path GLOB ? OR d.name GLOB ?"
)


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
        self._conn.execute("PRAGMA foreign_keys=ON")
        # executescript() runs outside Python's transaction handling, so the script
        # carries its own: two processes opening a new index at once cannot interleave.
        self._conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
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

    # -- documents ----------------------------------------------------------------------

    def documents(self) -> list[DocumentRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, path, sha256, size, mtime, format, title, pages, status, error, "
                "warnings, chunk_count, ingested_at FROM documents ORDER BY path"
            ).fetchall()
        return [_document(row) for row in rows]

    def document(self, path: str) -> DocumentRecord | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, path, sha256, size, mtime, format, title, pages, status, error, "
                "warnings, chunk_count, ingested_at FROM documents WHERE path = ?",
                (path,),
            ).fetchone()
        return _document(row) if row else None

    def replace_document(
        self,
        *,
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
    ) -> tuple[list[int], list[int]]:
        """Store a successfully parsed document, replacing any earlier version of the path.

        Returns (removed chunk ids, added chunk ids) for the vector index to follow.
        Must be called inside `transaction()`.
        """
        removed = self._delete_document(path)
        cur = self._conn.execute(
            "INSERT INTO documents (path, name, sha256, size, mtime, format, language, title, "
            "pages, status, warnings, chunk_count, ingested_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'ok', ?, ?, ?)",
            (
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
        return removed, added

    def record_failure(
        self, *, path: str, sha256: str, size: int, mtime: float, format: str, error: str
    ) -> list[int]:
        """Mark a path as failed (with its reason), dropping any earlier good version.

        The earlier version is dropped because its content no longer matches the file:
        answering from it would cite text the file does not contain any more.
        """
        removed = self._delete_document(path)
        self._conn.execute(
            "INSERT INTO documents (path, name, sha256, size, mtime, format, status, error, "
            "ingested_at) VALUES (?, ?, ?, ?, ?, ?, 'failed', ?, ?)",
            (path, Path(path).name, sha256, size, mtime, format, error, _now()),
        )
        return removed

    def touch_document(self, path: str, mtime: float) -> None:
        self._conn.execute("UPDATE documents SET mtime = ? WHERE path = ?", (mtime, path))

    def remove_document(self, path: str) -> list[int]:
        """Drop a path and its chunks; returns the removed chunk ids. Inside a transaction."""
        return self._delete_document(path)

    def _delete_document(self, path: str) -> list[int]:
        row = self._conn.execute("SELECT id FROM documents WHERE path = ?", (path,)).fetchone()
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

    def iter_vectors(self, after_id: int, batch: int = 4096) -> Iterator[tuple[np.ndarray, bytes]]:
        """(ids, concatenated float32 bytes) in batches, for chunks with id > after_id."""
        last = after_id
        while True:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT id, vector FROM chunks WHERE id > ? ORDER BY id LIMIT ?",
                    (last, batch),
                ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield np.array([r[0] for r in rows], dtype=np.int64), b"".join(r[1] for r in rows)

    def chunk_rows(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._conn.execute(
                "SELECT c.id, c.text, c.heading, c.title, c.page, d.path, c.position, c.doc_id, "
                "c.start, c.end FROM chunks c JOIN documents d ON d.id = c.doc_id "
                f"WHERE c.id IN ({marks})",
                list(ids),
            ).fetchall()
        return {r[0]: ChunkRow(*r) for r in rows}

    def chunk_ids_for_sources(self, pattern: str) -> np.ndarray:
        """Ids of the chunks whose file path or file name matches a glob pattern."""
        with self._lock:
            rows = self._conn.execute(_IDS_FOR_SOURCES, (pattern, pattern)).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

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
        self, match: str, limit: int, source_pattern: str | None = None
    ) -> list[tuple[int, float]]:
        """(chunk id, BM25 score, higher is better) for an FTS5 MATCH expression."""
        # Passage text counts most; the heading and title help short, well-titled passages.
        sql = (
            "SELECT rowid, -bm25(chunks_fts, 1.0, 0.5) AS score FROM chunks_fts "
            "WHERE chunks_fts MATCH ?"
        )
        params: list = [match]
        if source_pattern:
            sql += f" AND (rowid + 0) IN ({_IDS_FOR_SOURCES})"  # one scan: see lexical_scores
            params += [source_pattern, source_pattern]
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

    def stats(self) -> dict[str, int]:
        with self._lock:
            docs, failed = self._conn.execute(
                "SELECT count(*), coalesce(sum(status = 'failed'), 0) FROM documents"
            ).fetchone()
            chunks = self._conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
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
    )
