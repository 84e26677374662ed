"""People: accounts, roles, grants, sign-in and sessions.

Roles: an admin manages people and collections and reads and changes everything; an
editor uploads and deletes documents in the collections granted; a reader asks and
reads in the collections granted. What one person may do is an `Access` (rag.types),
built afresh from this database for every request, so a removed person, a revoked grant
or a reset password takes effect at once, even for a session already open.

Sign-in is rate limited by the name typed: after a failure the next try for that name
must wait `RETRY_SECONDS`, and after `LOCK_AFTER` failures in a row the name is locked
for `LOCK_MINUTES` (an admin's password reset unlocks it). Unknown names are treated
exactly like known ones, so neither the answers nor their timing say which names exist.
"""

from __future__ import annotations

import getpass
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from rag.errors import AccessDeniedError, ConfigError, RagError
from rag.types import ADMIN, EDITOR, ROLES, Access
from rag.users import passwords
from rag.users.audit import AuditLog
from rag.users.database import UsersDatabase, now_iso, secret_digest

LOCK_AFTER = 5  # failures in a row
LOCK_MINUTES = 15
RETRY_SECONDS = 1.0  # after a failure, before the next try of the same name
SESSION_IDLE_MINUTES = 60
SESSION_MAX_HOURS = 12
FIRST_ADMIN = "admin"

# Names can be e-mail addresses, as an identity provider gives them.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")


class SignInError(RagError):
    """A sign-in was refused; the message is the same whichever part was wrong."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    has_password: bool
    must_change_password: bool
    created_at: str
    collections: tuple[int, ...]  # granted collection ids (an admin needs none)


@dataclass(frozen=True)
class SessionSettings:
    idle_minutes: float = SESSION_IDLE_MINUTES
    max_hours: float = SESSION_MAX_HOURS

    @classmethod
    def from_env(cls) -> SessionSettings:
        return cls(
            _positive("RAG_SESSION_IDLE_MINUTES", SESSION_IDLE_MINUTES),
            _positive("RAG_SESSION_MAX_HOURS", SESSION_MAX_HOURS),
        )


def _positive(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be a positive number")
    return value


def operator() -> str:
    """How the person at the machine (a command line without a user) is named in the
    audit trail."""
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):
        return "operator"


def check_name(name: object) -> str:
    text = name.strip() if isinstance(name, str) else ""
    if not _NAME.fullmatch(text):
        raise ConfigError(
            f"user name {name!r} is not valid: up to 128 letters, digits, '.', '_', '@', '+' "
            "or '-', starting with a letter or digit (an e-mail address works)"
        )
    return text


def check_role(role: object) -> str:
    if role not in ROLES:
        raise ConfigError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


class Accounts:
    """The people of one index directory. Every change is written to the audit trail as
    done `by` someone (a user's name, or operator() at the machine)."""

    def __init__(
        self,
        index_dir: Path | str,
        sessions: SessionSettings | None = None,
        clock=time.time,
    ):
        self.database = UsersDatabase(index_dir)
        self.audit = AuditLog(self.database)
        self.sessions = sessions or SessionSettings.from_env()
        self._clock = clock

    def close(self) -> None:
        self.database.close()

    # -- people -------------------------------------------------------------------------

    def users(self) -> list[User]:
        rows = self.database.query(f"{_USERS_SELECT} GROUP BY u.id ORDER BY u.name COLLATE NOCASE")
        return [_user(row) for row in rows]

    def user(self, name: str) -> User | None:
        rows = self.database.query(
            f"{_USERS_SELECT} WHERE u.name = ? GROUP BY u.id",
            (name.strip() if isinstance(name, str) else "",),
        )
        return _user(rows[0]) if rows else None

    def find(self, name: str) -> User:
        found = self.user(name)
        if found is None:
            raise ConfigError(f"there is no user named {name!r}: see `python -m rag.users list`")
        return found

    def add(
        self,
        name: str,
        role: str,
        by: str,
        password: str | None = None,
        sso_only: bool = False,
    ) -> tuple[User, str | None]:
        """Add a person. Without a `password`, one is made up and returned: a one-time
        password its holder must change at first sign-in. `sso_only`: no password at
        all, for someone who signs in through the identity provider."""
        name, role = check_name(name), check_role(role)
        one_time = None
        if sso_only:
            hashed = None
        else:
            if password is None:
                one_time = password = passwords.one_time_password()
            else:
                passwords.check_strength(password, name)
            hashed = passwords.hash_password(password)
        with self.database.transaction() as conn:
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise ConfigError(f"a user named {name!r} already exists")
            conn.execute(
                "INSERT INTO users (name, role, password_hash, must_change_password, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, role, hashed, one_time is not None, now_iso()),
            )
        self.audit.record(by, "user_add", user=name, role=role, sso_only=sso_only)
        return self.find(name), one_time

    def remove(self, name: str, by: str) -> None:
        """Remove a person: their grants, sessions and API keys go with them."""
        user = self.find(name)
        self._keep_an_admin(user, "remove")
        with self.database.transaction() as conn:
            conn.execute("DELETE FROM users WHERE id = ?", (user.id,))
        self.audit.record(by, "user_remove", user=user.name)

    def set_role(self, name: str, role: str, by: str) -> User:
        user, role = self.find(name), check_role(role)
        if role != ADMIN:
            self._keep_an_admin(user, "demote")
        with self.database.transaction() as conn:
            conn.execute("UPDATE users SET role = ? WHERE id = ?", (role, user.id))
        self.audit.record(by, "role_change", user=user.name, old_role=user.role, role=role)
        return self.find(name)

    def _keep_an_admin(self, user: User, what: str) -> None:
        admins = [u for u in self.users() if u.role == ADMIN]
        if user.role == ADMIN and len(admins) == 1:
            raise ConfigError(
                f"{user.name!r} is the only admin and cannot be {what}d: make another "
                "person an admin first"
            )

    def reset_password(self, name: str, by: str, password: str | None = None) -> str | None:
        """Set a new password (None: a one-time one, returned); ends the person's
        sessions and lifts a sign-in lock on the name."""
        user = self.find(name)
        one_time = None
        if password is None:
            one_time = password = passwords.one_time_password()
        else:
            passwords.check_strength(password, user.name)
        with self.database.transaction() as conn:
            conn.execute(
                "UPDATE users SET password_hash = ?, must_change_password = ? WHERE id = ?",
                (passwords.hash_password(password), one_time is not None, user.id),
            )
            conn.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
            conn.execute("DELETE FROM sign_in_failures WHERE name = ?", (user.name,))
        self.audit.record(by, "password_reset", user=user.name, one_time=one_time is not None)
        return one_time

    def change_own_password(self, name: str, current: str, new: str) -> None:
        """A person choosing their own password (after a one-time one, or any time)."""
        user = self.find(name)
        if not passwords.verify(self._hash_of(user.id), current):
            raise SignInError("the current password is not right")
        if new == current:
            raise ConfigError("choose a password other than the current one")
        passwords.check_strength(new, user.name)
        with self.database.transaction() as conn:
            conn.execute(
                "UPDATE users SET password_hash = ?, must_change_password = 0 WHERE id = ?",
                (passwords.hash_password(new), user.id),
            )
        self.audit.record(user.name, "password_change", user=user.name)

    def _hash_of(self, user_id: int) -> str | None:
        rows = self.database.query("SELECT password_hash FROM users WHERE id = ?", (user_id,))
        return rows[0][0] if rows else None

    # -- grants -------------------------------------------------------------------------

    def grant(self, name: str, collection_id: int, collection_name: str, by: str) -> None:
        self._change_grant(
            "INSERT OR IGNORE INTO grants (user_id, collection_id) VALUES (?, ?)",
            "grant",
            name,
            collection_id,
            collection_name,
            by,
        )

    def revoke(self, name: str, collection_id: int, collection_name: str, by: str) -> None:
        self._change_grant(
            "DELETE FROM grants WHERE user_id = ? AND collection_id = ?",
            "revoke",
            name,
            collection_id,
            collection_name,
            by,
        )

    def _change_grant(
        self, sql: str, action: str, name: str, collection_id: int, collection_name: str, by: str
    ) -> None:
        user = self.find(name)
        with self.database.transaction() as conn:
            conn.execute(sql, (user.id, collection_id))
        self.audit.record(by, action, collection_name, user=user.name, role=user.role)

    def access_for(self, user: User) -> Access:
        if user.role == ADMIN:
            return Access(user.name, ADMIN)
        granted = frozenset(user.collections)
        return Access(
            user.name, user.role, granted, granted if user.role == EDITOR else frozenset()
        )

    def access_of(self, name: str) -> Access:
        """The access of the person named (ConfigError if there is none): for a command
        line run with `--user`."""
        return self.access_for(self.find(name))

    # -- first start --------------------------------------------------------------------

    def ensure_first_admin(self) -> tuple[str, str | None] | None:
        """On a first start (no admin yet, though the command line may have added
        others), make the admin `admin`: with the password in `RAG_ADMIN_PASSWORD` if
        set, else a one-time password, returned to be shown once. Returns (name,
        one-time password or None), or None when there was an admin."""
        if self.database.query("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1"):
            return None
        given = os.environ.get("RAG_ADMIN_PASSWORD") or None
        try:
            _, one_time = self.add(FIRST_ADMIN, ADMIN, "first start", password=given)
        except ConfigError as exc:
            if "already exists" in str(exc):  # another process made it a moment ago
                return None
            raise ConfigError(f"RAG_ADMIN_PASSWORD: {exc}") from None
        return FIRST_ADMIN, one_time

    # -- signing in ---------------------------------------------------------------------

    def sign_in(self, name: str, password: str) -> tuple[User, str]:
        """The person and a new session token, or SignInError. Every attempt, good or
        bad, is in the audit trail (never the password)."""
        typed = name.strip()[:128] if isinstance(name, str) else ""
        now = self._clock()
        failures, last_failure, locked_until = self._failures(typed)
        if locked_until > now:
            minutes = max(1, round((locked_until - now) / 60))
            self.audit.record(typed, "sign_in_locked")
            raise SignInError(
                f"too many failed sign-ins for this name: try again in {minutes} min, or ask "
                "an admin to reset the password"
            )
        if failures and now - last_failure < RETRY_SECONDS:
            self.audit.record(typed, "sign_in_throttled")
            raise SignInError("too many tries at once: wait a moment and sign in again")
        user = self.user(typed) if typed else None
        stored = self._hash_of(user.id) if user else None
        if not passwords.verify(stored, password if isinstance(password, str) else ""):
            self._count_failure(typed, failures + 1, now)
            self.audit.record(typed, "sign_in_failed")
            raise SignInError("wrong name or password")
        if passwords.needs_rehash(stored):
            with self.database.transaction() as conn:
                conn.execute(
                    "UPDATE users SET password_hash = ? WHERE id = ?",
                    (passwords.hash_password(password), user.id),
                )
        with self.database.transaction() as conn:
            conn.execute("DELETE FROM sign_in_failures WHERE name = ?", (typed,))
        self.audit.record(user.name, "sign_in", method="password")
        return user, self._new_session(user, now)

    def sign_in_verified(self, name: str, method: str) -> tuple[User, str] | None:
        """A session for someone an identity provider vouched for (st.login), matched to
        an account of the same name (their e-mail address); None if there is none."""
        user = self.user(name) if isinstance(name, str) and name.strip() else None
        if user is None:
            self.audit.record(str(name)[:128], "sign_in_failed", method=method)
            return None
        self.audit.record(user.name, "sign_in", method=method)
        return user, self._new_session(user, self._clock())

    def _failures(self, name: str) -> tuple[int, float, float]:
        rows = self.database.query(
            "SELECT failures, last_failure_at, locked_until FROM sign_in_failures WHERE name = ?",
            (name,),
        )
        if not rows:
            return 0, 0.0, 0.0
        failures, last, locked = rows[0]
        if locked and locked <= self._clock():  # a lock that ran out starts a new count
            return 0, 0.0, 0.0
        return failures, last, locked

    def _count_failure(self, name: str, failures: int, now: float) -> None:
        locked_until = now + LOCK_MINUTES * 60 if failures >= LOCK_AFTER else 0
        with self.database.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sign_in_failures "
                "(name, failures, last_failure_at, locked_until) VALUES (?, ?, ?, ?)",
                (name, failures, now, locked_until),
            )
            # Names typed long ago are forgotten, so guesses cannot grow the table forever.
            conn.execute(
                "DELETE FROM sign_in_failures WHERE last_failure_at < ? AND locked_until < ?",
                (now - 24 * 3600, now),
            )
        if locked_until:
            self.audit.record(name, "sign_in_lock", minutes=LOCK_MINUTES)

    def _new_session(self, user: User, now: float) -> str:
        token = secrets.token_urlsafe(32)
        with self.database.transaction() as conn:
            conn.execute(
                "INSERT INTO sessions (digest, user_id, created_at, last_seen_at) "
                "VALUES (?, ?, ?, ?)",
                (secret_digest(token), user.id, now, now),
            )
            # Sessions past their limit are dropped as new ones start.
            conn.execute(
                "DELETE FROM sessions WHERE created_at < ? OR last_seen_at < ?",
                (now - self.sessions.max_hours * 3600, now - self.sessions.idle_minutes * 60),
            )
        return token

    def session_user(self, token: str | None) -> User | None:
        """The person a session token belongs to, or None: no such session, it expired
        (idle too long, or older than its limit), or the person was removed or had their
        password reset. A live session's idle clock restarts."""
        if not token:
            return None
        now, digest = self._clock(), secret_digest(token)
        rows = self.database.query(
            "SELECT s.created_at, s.last_seen_at, u.name FROM sessions s "
            "JOIN users u ON u.id = s.user_id WHERE s.digest = ?",
            (digest,),
        )
        if not rows:
            return None
        created, seen, name = rows[0]
        if (
            now - created > self.sessions.max_hours * 3600
            or now - seen > self.sessions.idle_minutes * 60
        ):
            self.sign_out(token, expired=True)
            return None
        if now - seen > 30:  # one write a half-minute at most, not one per page draw
            with self.database.transaction() as conn:
                conn.execute("UPDATE sessions SET last_seen_at = ? WHERE digest = ?", (now, digest))
        return self.user(name)

    def sign_out(self, token: str | None, expired: bool = False) -> None:
        if not token:
            return
        digest = secret_digest(token)
        rows = self.database.query(
            "SELECT u.name FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.digest = ?",
            (digest,),
        )
        with self.database.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE digest = ?", (digest,))
        if rows:
            self.audit.record(rows[0][0], "session_expired" if expired else "sign_out")

    def require_admin(self, access: Access) -> None:
        if not access.is_admin:
            raise AccessDeniedError(
                f"only an admin may manage people ({access.user or 'you'} is {access.role})"
            )


# A person with their granted collection ids (comma-separated, NULL for none).
_USERS_SELECT = (
    "SELECT u.id, u.name, u.role, u.password_hash IS NOT NULL, u.must_change_password, "
    "u.created_at, group_concat(g.collection_id) FROM users u "
    "LEFT JOIN grants g ON g.user_id = u.id"
)


def _user(row) -> User:
    granted = tuple(sorted(int(c) for c in row[6].split(","))) if row[6] else ()
    return User(row[0], row[1], row[2], bool(row[3]), bool(row[4]), row[5], granted)
