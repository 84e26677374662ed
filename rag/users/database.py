"""The people's database of an index: `users.sqlite3` at the top of the index directory.

Kept apart from the index's own database because a rebuild (`--rebuild`) replaces that
one with a new generation, and accounts, grants, API keys and the audit trail must
outlive every rebuild. Collections are named here by their id, which a rebuild keeps and
the index never gives out twice.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from rag.errors import IndexMismatchError

USERS_DB_NAME = "users.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = [
    # `password_hash` is NULL for a person who signs in through the identity provider
    # (st.login) only. `must_change_password`: a one-time password was handed out.
    # `session_epoch` goes up when the password is reset, ending every session at once.
    """CREATE TABLE IF NOT EXISTS users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'reader')),
        password_hash TEXT,
        must_change_password INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    )""",
    # The collections (by the index's collection id) each person may read; an editor
    # may also change their documents. Admins need none.
    """CREATE TABLE IF NOT EXISTS grants (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        collection_id INTEGER NOT NULL,
        PRIMARY KEY (user_id, collection_id)
    )""",
    # Signed-in sessions of the app: only a SHA-256 of each random token is kept.
    """CREATE TABLE IF NOT EXISTS sessions (
        digest TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        last_seen_at REAL NOT NULL
    )""",
    # Keys for the HTTP API, each acting as the person it belongs to (rag.users.keys).
    """CREATE TABLE IF NOT EXISTS api_keys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name TEXT NOT NULL UNIQUE,
        digest TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    )""",
    # Failed sign-ins by the name typed (known or not, so a lock says nothing about
    # which names exist), for the rate limit and the lock (rag.users.accounts).
    """CREATE TABLE IF NOT EXISTS sign_in_failures (
        name TEXT PRIMARY KEY COLLATE NOCASE,
        failures INTEGER NOT NULL,
        last_failure_at REAL NOT NULL,
        locked_until REAL NOT NULL DEFAULT 0
    )""",
    # The audit trail (rag.users.audit): rows are only ever added.
    """CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        collection TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '{}'
    )""",
    """CREATE TRIGGER IF NOT EXISTS audit_is_append_only_update BEFORE UPDATE ON audit
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_is_append_only_delete BEFORE DELETE ON audit
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
]


def users_db_path(index_dir: Path | str) -> Path:
    return Path(index_dir) / USERS_DB_NAME


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def secret_digest(secret: str) -> str:
    """What is stored of a session token or an API key: its SHA-256, never the secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class UsersDatabase:
    """One connection to an index's people's database, safe to share between threads."""

    def __init__(self, index_dir: Path | str):
        self.path = users_db_path(index_dir)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30
        )
        self._lock = threading.RLock()
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise IndexMismatchError(
                f"{self.path} was written by a newer version (schema {version}; this one "
                f"reads up to {SCHEMA_VERSION}): upgrade the product to open it"
            )
        with self.transaction():
            for statement in _SCHEMA:
                self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()
