"""Collections: named bodies of documents in one index.

All collections share the index's database, vectors and embedder, so a question can be
asked of several at once and a file's passages are embedded once whichever collection
holds it. A document belongs to one collection; the same file ingested into two is two
documents. Every index has the collection `default`, which cannot be renamed or deleted:
the CLIs and the app use it when none is named, and an index made before collections
existed opens with all its documents in it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from rag.config import new_collection_docs_dir
from rag.errors import ConfigError
from rag.index.store import DEFAULT_COLLECTION, DEFAULT_COLLECTION_ID, CollectionRecord, Store
from rag.types import EVERYTHING, Access

MAX_NAME_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 500

# Names go into URLs, folder names and model ids ("rag:<name>"), so they stay plain.
_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_NAME_LENGTH - 1}}}")

# What a question is asked of: one collection's name, several, or None for all.
CollectionChoice = str | Sequence[str] | None


class CollectionNotFoundError(ConfigError):
    """No collection has the name asked for; the message lists those there are."""


def check_name(name: object) -> str:
    """The name, stripped, or ConfigError saying what a name may hold."""
    text = name.strip() if isinstance(name, str) else ""
    if not _NAME.fullmatch(text):
        raise ConfigError(
            f"collection name {name!r} is not valid: use up to {MAX_NAME_LENGTH} letters, "
            "digits, '-', '_' or '.', starting with a letter or digit (e.g. hr-policies)"
        )
    return text


def check_description(description: object) -> str:
    text = description.strip() if isinstance(description, str) else None
    if text is None or len(text) > MAX_DESCRIPTION_LENGTH:
        raise ConfigError(
            f"a collection description is text of at most {MAX_DESCRIPTION_LENGTH} characters"
        )
    return text


def visible(store: Store, access: Access = EVERYTHING) -> list[CollectionRecord]:
    """The collections `access` may read, the default first."""
    return [c for c in store.collections() if access.can_read(c.id)]


def find(store: Store, name: str, access: Access = EVERYTHING) -> CollectionRecord:
    """The collection of this name, or CollectionNotFoundError listing the others the
    caller may read. A collection the caller may not read is "not found" in the same
    words, so the error says nothing about what else exists."""
    found = store.collection(name) if isinstance(name, str) else None
    if found is None or not access.can_read(found.id):
        raise not_found(store, name, access)
    return found


def not_found(store: Store, name: object, access: Access) -> CollectionNotFoundError:
    names = ", ".join(c.name for c in visible(store, access)) or "none"
    if access.readable is None:
        return CollectionNotFoundError(
            f"there is no collection named {name!r} in this index (it has: {names}); "
            "create it with `python -m rag.collections create NAME` or pick one of these"
        )
    return CollectionNotFoundError(
        f"there is no collection named {name!r} that you can read (you can read: {names}); "
        "an admin grants collections with `python -m rag.users grant`"
    )


def create(store: Store, name: str, index_dir: Path, description: str = "") -> CollectionRecord:
    """Add a collection with its own documents folder (created when first used)."""
    name = check_name(name)
    description = check_description(description)
    # A renamed collection keeps its folder: a new one of its old name gets another.
    taken = {c.docs_dir for c in store.collections()}
    folder = new_collection_docs_dir(name, index_dir).absolute()
    suffix = 1
    while str(folder) in taken:
        suffix += 1
        folder = new_collection_docs_dir(f"{name}-{suffix}", index_dir).absolute()
    with store.transaction():
        store.create_collection(name, description, str(folder))
    return find(store, name)


def rename(store: Store, name: str, new_name: str) -> CollectionRecord:
    """Rename a collection; its documents and their folder stay where they are."""
    record = find(store, name)
    new_name = check_name(new_name)
    if record.id == DEFAULT_COLLECTION_ID:
        raise ConfigError(f"the collection {DEFAULT_COLLECTION!r} cannot be renamed")
    with store.transaction():
        store.update_collection(record.id, name=new_name)
    return find(store, new_name)


def describe_as(store: Store, name: str, description: str) -> CollectionRecord:
    record = find(store, name)
    with store.transaction():
        store.update_collection(record.id, description=check_description(description))
    return find(store, name)


def resolve(
    store: Store, choice: CollectionChoice, access: Access = EVERYTHING
) -> list[int] | None:
    """The ids of the collections named that `access` may read (None: every collection,
    no filter needed; [] for a caller granted none, who finds nothing).

    A name may be given once or several times; naming every collection is the same as
    naming none, so such a search pays for no filter. A name the caller may not read is
    refused exactly like a name that does not exist.
    """
    if choice is None and access.readable is None:
        return None
    every = store.collections()
    readable = {c.name.lower(): c.id for c in every if access.can_read(c.id)}
    if choice is None:
        return sorted(readable.values())
    names = [choice] if isinstance(choice, str) else list(choice)
    if not names:
        raise ConfigError("no collection given: name at least one, or none for all")
    ids = set()
    for name in names:
        if not isinstance(name, str) or name.lower() not in readable:
            raise not_found(store, name, access)
        ids.add(readable[name.lower()])
    return None if len(ids) == len(every) else sorted(ids)
