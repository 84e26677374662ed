"""`python -m rag.serve [--host H] [--port P] [--index DIR]`: the HTTP API, and
`python -m rag.serve keys create NAME --user USER | list | revoke NAME` for its keys.

Every request carries an API key, and a key belongs to a person: it reads and changes
what that person may (see `python -m rag.users`).
"""

from __future__ import annotations

import argparse
import json
import os

from rag.cli.common import EXIT_OK, run
from rag.config import default_index_dir
from rag.index.layout import data_dir
from rag.index.store import DB_NAME, Store
from rag.users import Accounts, keys, operator


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rag.serve", description=__doc__.split("\n\n")[0])
    p.add_argument("--index", default=None, help=f"index directory (default {default_index_dir()})")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (8000)")
    p.add_argument(
        "--rate",
        type=float,
        default=float(os.environ.get("RAG_API_RATE", 120)),
        help="requests a minute per key ($RAG_API_RATE, 120)",
    )
    p.add_argument(
        "--queue",
        type=int,
        default=int(os.environ.get("RAG_API_QUEUE", 8)),
        help="answers that may wait behind the one being written ($RAG_API_QUEUE, 8)",
    )
    return p


def _keys_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rag.serve keys", description="API keys")
    p.add_argument("--index", default=None, help=f"index directory (default {default_index_dir()})")
    p.add_argument("--json", action="store_true")
    commands = p.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a key (shown once)")
    create.add_argument("name", help="what uses it, e.g. open-webui")
    create.add_argument("--user", required=True, help="the person it acts as (rag.users)")
    commands.add_parser("list", help="the keys, live and revoked (never the keys themselves)")
    revoke = commands.add_parser("revoke", help="stop a key from working")
    revoke.add_argument("name")
    return p


def keys_main(argv: list[str]) -> int:
    args = _keys_parser().parse_args(argv)
    accounts = Accounts(args.index or default_index_dir())
    try:
        if args.command == "create":
            key = keys.create(accounts, args.name, args.user, operator())
            if args.json:
                print(json.dumps({"name": args.name, "user": args.user, "key": key}))
            else:
                print(f"API key {args.name} (acts as {args.user}): {key}")
                print("keep it now: it is not stored and cannot be shown again")
        elif args.command == "revoke":
            keys.revoke(accounts, args.name, operator())
            print(f"revoked {args.name}")
        else:
            listed = keys.listed(accounts)
            if args.json:
                print(json.dumps([k.__dict__ for k in listed], indent=2))
            for k in listed:
                state = f"revoked {k.revoked_at}" if k.revoked_at else "live"
                print(f"{k.name:24} {k.user:24} {k.prefix}…  created {k.created_at}  {state}")
            if not listed and not args.json:
                print("no API keys yet: `python -m rag.serve keys create NAME --user USER`")
    finally:
        accounts.close()
    return EXIT_OK


def _legacy_key_count(index_dir) -> int:
    """Keys made before keys belonged to people (kept in the index's own database)."""
    folder = data_dir(index_dir)
    if not (folder / DB_NAME).is_file():
        return 0
    store = Store(folder)
    try:
        return store.api_key_count(live_only=True)
    finally:
        store.close()


def main(argv: list[str]) -> int:
    if argv[:1] == ["keys"]:
        return keys_main(argv[1:])
    args = _parser().parse_args(argv)
    index_dir = args.index or default_index_dir()
    legacy = _legacy_key_count(index_dir)
    if legacy:
        print(
            f"note: {legacy} API key(s) made before keys belonged to people no longer work; "
            "make new ones with `python -m rag.serve keys create NAME --user USER`",
            flush=True,
        )
    import uvicorn

    from rag.answering.assistant import default_assistant
    from rag.api.server import ServerSettings, create_app
    from rag.library import Library

    assistant = default_assistant(index_dir)
    library = Library(index_dir, embedder=assistant.retriever.embedder)
    accounts = Accounts(index_dir)
    settings = ServerSettings(requests_per_minute=args.rate, queue_waiting=args.queue)
    app = create_app(assistant, library, accounts, settings)
    print(f"ragdesk API on http://{args.host}:{args.port} (OpenAPI page: /docs)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return EXIT_OK


if __name__ == "__main__":
    run(main)
