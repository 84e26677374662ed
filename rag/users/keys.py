"""API keys: random bearer tokens, each belonging to a person and acting with that
person's role and grants. Only a SHA-256 of each is kept.

A key is 32 random bytes (256 bits), so a fast hash is enough: nobody can guess one to
test against a digest, and no digest can be turned back into its key. A key is shown
once, when it is made. Removing its owner removes the key.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from rag.errors import ConfigError
from rag.users.accounts import Accounts, User
from rag.users.database import now_iso, secret_digest

KEY_PREFIX = "rag_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


@dataclass(frozen=True)
class KeyRecord:
    name: str
    user: str
    prefix: str
    created_at: str
    revoked_at: str | None


def create(accounts: Accounts, name: str, user: str, by: str) -> str:
    """A new key named `name` (what uses it) acting as `user`; returns the key itself."""
    if not isinstance(name, str) or not _NAME.fullmatch(name.strip()):
        raise ConfigError(
            f"API key name {name!r} is not valid: up to 64 letters, digits, '.', '_', '@' "
            "or '-', e.g. open-webui"
        )
    owner_record = accounts.find(user)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with accounts.database.transaction() as conn:
        if conn.execute("SELECT 1 FROM api_keys WHERE name = ?", (name.strip(),)).fetchone():
            raise ConfigError(f"an API key named {name.strip()!r} already exists")
        conn.execute(
            "INSERT INTO api_keys (user_id, name, digest, prefix, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                owner_record.id,
                name.strip(),
                secret_digest(key),
                key[: len(KEY_PREFIX) + 6],
                now_iso(),
            ),
        )
    accounts.audit.record(by, "key_create", key=name.strip(), user=owner_record.name)
    return key


def revoke(accounts: Accounts, name: str, by: str) -> None:
    with accounts.database.transaction() as conn:
        cur = conn.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (now_iso(), name),
        )
    if not cur.rowcount:
        raise ConfigError(f"there is no live API key named {name!r}: see `keys list`")
    accounts.audit.record(by, "key_revoke", key=name)


def listed(accounts: Accounts) -> list[KeyRecord]:
    rows = accounts.database.query(
        "SELECT k.name, u.name, k.prefix, k.created_at, k.revoked_at FROM api_keys k "
        "JOIN users u ON u.id = k.user_id ORDER BY k.id"
    )
    return [KeyRecord(*row) for row in rows]


def owner(accounts: Accounts, presented: str) -> tuple[str, User] | None:
    """(key name, the person it acts as) for a live key, or None. The lookup is by the
    presented key's digest, so how long it takes says nothing about any stored key."""
    if not presented.startswith(KEY_PREFIX):
        return None
    rows = accounts.database.query(
        "SELECT k.name, u.name FROM api_keys k JOIN users u ON u.id = k.user_id "
        "WHERE k.digest = ? AND k.revoked_at IS NULL",
        (secret_digest(presented),),
    )
    if not rows:
        return None
    user = accounts.user(rows[0][1])
    return (rows[0][0], user) if user else None
