"""What every command line shares: exit codes, and turning domain errors into messages."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from rag.config import default_index_dir
from rag.errors import IndexLockedError, RagError
from rag.types import EVERYTHING, Access
from rag.users import Accounts

EXIT_OK = 0
EXIT_SOME_FAILED = 1  # the run finished, but some files could not be ingested
EXIT_USAGE = 2  # bad arguments, configuration, missing model or incompatible index
EXIT_LOCKED = 3  # another ingest holds the index


def add_collection_argument(parser: argparse.ArgumentParser) -> None:
    """`--collection NAME`, repeatable: the collections to ask (none given: all)."""
    parser.add_argument(
        "--collection",
        action="append",
        default=None,
        metavar="NAME",
        help="only this collection (repeat to ask several; default: every collection)",
    )


def add_user_argument(parser: argparse.ArgumentParser) -> None:
    """`--user NAME` (or RAG_USER): see only what that person may (rag.users)."""
    parser.add_argument(
        "--user",
        default=os.environ.get("RAG_USER") or None,
        metavar="NAME",
        help="search as this person, within their collections ($RAG_USER; default: "
        "the operator at this machine, who sees every collection)",
    )


def access_of(index_dir: str | None, user: str | None) -> Access:
    """The Access of `--user` (everything, without one)."""
    if not user:
        return EVERYTHING
    accounts = Accounts(index_dir or default_index_dir())
    try:
        return accounts.access_of(user)
    finally:
        accounts.close()


def display_path(path: str) -> str:
    """A path relative to the current directory when it lies below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def run(main: Callable[[list[str]], int], argv: list[str] | None = None) -> None:
    """Run a command's main, printing domain errors as one line instead of a traceback."""
    try:
        code = main(sys.argv[1:] if argv is None else argv)
    except IndexLockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = EXIT_LOCKED
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: finished documents are kept; run again to continue", file=sys.stderr)
        code = 130
    sys.exit(code)
