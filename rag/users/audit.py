"""The audit trail: who did what, when, in which collection.

Sign-ins (and failed ones), sign-outs, uploads, deletes, collection changes, changes to
people and their grants, API keys, downloads and questions. Rows are only added: the
database refuses to change or delete one (see rag.users.database). The text of a
question is kept only when `RAG_AUDIT_QUESTION_TEXT=1`; otherwise the trail says who
asked, when and where, not what.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import TextIO

from rag.errors import ConfigError
from rag.users.database import UsersDatabase, now_iso


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str  # UTC, ISO 8601
    actor: str  # a user's name, "operator:<login>" at the machine, or what was typed
    action: str
    collection: str
    detail: dict

    def as_dict(self) -> dict:
        return asdict(self)


def keeps_question_text() -> bool:
    """`RAG_AUDIT_QUESTION_TEXT`: 1 keeps each question's text in the trail, 0 (the
    default) keeps only that a question was asked."""
    raw = os.environ.get("RAG_AUDIT_QUESTION_TEXT", "0").strip().lower()
    if raw not in ("0", "1", "false", "true", "no", "yes", ""):
        raise ConfigError(f"RAG_AUDIT_QUESTION_TEXT={raw!r}: set 1 to keep question text, 0 not to")
    return raw in ("1", "true", "yes")


class AuditLog:
    def __init__(self, database: UsersDatabase, keep_question_text: bool | None = None):
        self.database = database
        self.keep_question_text = (
            keeps_question_text() if keep_question_text is None else keep_question_text
        )

    def record(self, actor: str, action: str, collection: str = "", **detail) -> None:
        with self.database.transaction() as conn:
            conn.execute(
                "INSERT INTO audit (at, actor, action, collection, detail) VALUES (?, ?, ?, ?, ?)",
                (now_iso(), actor, action, collection, json.dumps(detail, ensure_ascii=False)),
            )

    def question(self, actor: str, question: str, asked: Iterable[str] | str | None) -> None:
        """A question asked, of these collections (None: all the asker may read)."""
        where = [asked] if isinstance(asked, str) else list(asked or [])
        detail = {"text": question} if self.keep_question_text else {"characters": len(question)}
        self.record(actor, "question", ", ".join(where) or "(all readable)", **detail)

    def entries(
        self, limit: int = 500, actor: str = "", action: str = "", before_id: int | None = None
    ) -> list[AuditEntry]:
        """The newest entries first, optionally of one actor or one action."""
        sql, params = "SELECT id, at, actor, action, collection, detail FROM audit WHERE 1", []
        if actor:
            sql += " AND actor = ? COLLATE NOCASE"
            params.append(actor)
        if action:
            sql += " AND action = ?"
            params.append(action)
        if before_id is not None:
            sql += " AND id < ?"
            params.append(before_id)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return [_entry(row) for row in self.database.query(sql, params)]

    def actions(self) -> list[str]:
        """The actions recorded so far, by name."""
        return [r[0] for r in self.database.query("SELECT DISTINCT action FROM audit ORDER BY 1")]

    def all_entries(self) -> Iterator[AuditEntry]:
        """Every entry, oldest first, read in pages."""
        after = 0
        while True:
            rows = self.database.query(
                "SELECT id, at, actor, action, collection, detail FROM audit WHERE id > ? "
                "ORDER BY id LIMIT 1000",
                (after,),
            )
            if not rows:
                return
            yield from (_entry(row) for row in rows)
            after = rows[-1][0]

    def export_jsonl(self, out: TextIO) -> int:
        """Write every entry as one JSON object a line, oldest first; returns how many."""
        count = 0
        for entry in self.all_entries():
            out.write(json.dumps(entry.as_dict(), ensure_ascii=False) + "\n")
            count += 1
        return count


def _entry(row) -> AuditEntry:
    return AuditEntry(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]))
