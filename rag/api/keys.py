"""API keys: random bearer tokens, of which the index keeps only a SHA-256.

A key is 32 random bytes (256 bits), so a fast hash is enough: nobody can guess one to
test against a digest, and no digest can be turned back into its key. A key is shown
once, when it is made.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from rag.errors import ConfigError
from rag.index.store import Store

KEY_PREFIX = "rag_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create(store: Store, name: str) -> str:
    """A new key named `name` (who or what uses it); returns the key itself."""
    if not isinstance(name, str) or not _NAME.fullmatch(name.strip()):
        raise ConfigError(
            f"API key name {name!r} is not valid: up to 64 letters, digits, '.', '_', '@' "
            "or '-', e.g. open-webui"
        )
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    store.add_api_key(name.strip(), digest(key), key[: len(KEY_PREFIX) + 6])
    return key


def revoke(store: Store, name: str) -> None:
    if not store.revoke_api_key(name):
        raise ConfigError(f"there is no live API key named {name!r}: see `keys list`")


def owner(store: Store, presented: str) -> str | None:
    """The name of the live key presented, or None. The lookup is by the presented key's
    digest, so how long it takes says nothing about any stored key's characters."""
    if not presented.startswith(KEY_PREFIX):
        return None
    return store.api_key_named(digest(presented))
