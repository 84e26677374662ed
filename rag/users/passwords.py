"""Password hashes: argon2id through argon2-cffi, with its recommended costs.

Only the hash is stored; a password is never logged, printed (except a generated
one-time password, once, to the person setting it up) or kept in memory longer than the
check that needs it.
"""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from rag.errors import ConfigError

MIN_LENGTH = 10
MAX_LENGTH = 256  # argon2 takes any length; a huge one is only a way to waste CPU

_hasher = PasswordHasher()  # argon2id, RFC 9106's low-memory profile


@cache
def _dummy_hash() -> str:
    """Checked against when a name is unknown, so a wrong name costs as long as a wrong
    password. Made on first use, not at import (a hash takes about 90 ms)."""
    return _hasher.hash(secrets.token_urlsafe(16))


def check_strength(password: object, name: str = "") -> str:
    """The password, or ConfigError saying what a password needs."""
    if not isinstance(password, str) or not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ConfigError(
            f"a password needs {MIN_LENGTH} to {MAX_LENGTH} characters "
            "(a few unrelated words make a good one)"
        )
    if name and password.strip().lower() == name.strip().lower():
        raise ConfigError("a password cannot be the user's own name")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; a missing hash (no password set) never matches, and
    takes as long to say so as a wrong password."""
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and bool(stored_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether a hash was made with weaker costs than today's (it is redone at sign-in)."""
    return _hasher.check_needs_rehash(stored_hash)


def one_time_password() -> str:
    """A random password to hand over once; its holder must choose a new one."""
    return secrets.token_urlsafe(12)  # 16 characters, 96 bits
