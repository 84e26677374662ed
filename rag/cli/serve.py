"""`python -m rag.serve [--host H] [--port P] [--index DIR]`: the HTTP API, and
`python -m rag.serve keys create NAME | list | revoke NAME` for its keys.

On loopback (the default, 127.0.0.1) the API is open until a first key is made; from
then on, or when listening on any other address (which needs a live key), every request
must carry one.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os

from rag.api import keys
from rag.cli.common import EXIT_OK, run
from rag.config import default_index_dir
from rag.errors import ConfigError
from rag.index.layout import data_dir
from rag.index.store import Store


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rag.serve", description=__doc__.split("\n\n")[0])
    p.add_argument("--index", default=None, help=f"index directory (default {default_index_dir()})")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (8000)")
    p.add_argument("--require-keys", action="store_true", help="require a key even on loopback")
    p.add_argument(
        "--rate",
        type=float,
        default=float(os.environ.get("RAG_API_RATE", 120)),
        help="requests a minute per key or address ($RAG_API_RATE, 120)",
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
    create.add_argument("name", help="who or what uses it, e.g. open-webui")
    commands.add_parser("list", help="the keys, live and revoked (never the keys themselves)")
    revoke = commands.add_parser("revoke", help="stop a key from working")
    revoke.add_argument("name")
    return p


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def keys_main(argv: list[str]) -> int:
    args = _keys_parser().parse_args(argv)
    folder = data_dir(args.index or default_index_dir())
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(folder)
    try:
        if args.command == "create":
            key = keys.create(store, args.name)
            if args.json:
                print(json.dumps({"name": args.name, "key": key}))
            else:
                print(f"API key {args.name}: {key}")
                print("keep it now: it is not stored and cannot be shown again")
        elif args.command == "revoke":
            keys.revoke(store, args.name)
            print(f"revoked {args.name}")
        else:
            listed = store.api_keys()
            if args.json:
                print(json.dumps(listed, indent=2))
            for k in listed:
                state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "live"
                print(f"{k['name']:24} {k['prefix']}…  created {k['created_at']}  {state}")
            if not listed and not args.json:
                print("no API keys yet: make one with `python -m rag.serve keys create NAME`")
    finally:
        store.close()
    return EXIT_OK


def main(argv: list[str]) -> int:
    if argv[:1] == ["keys"]:
        return keys_main(argv[1:])
    args = _parser().parse_args(argv)
    index_dir = args.index or default_index_dir()
    folder = data_dir(index_dir)
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(folder)
    try:
        live_keys = store.api_key_count(live_only=True)
    finally:
        store.close()
    if not is_loopback(args.host) and not live_keys:
        raise ConfigError(
            f"listening on {args.host} (beyond this machine) needs API keys: make one with "
            "`python -m rag.serve keys create NAME`, or listen on 127.0.0.1"
        )
    import uvicorn

    from rag.answering.assistant import default_assistant
    from rag.api.server import ServerSettings, create_app
    from rag.library import Library

    assistant = default_assistant(index_dir)
    library = Library(index_dir, embedder=assistant.retriever.embedder)
    settings = ServerSettings(
        require_keys=args.require_keys or not is_loopback(args.host),
        requests_per_minute=args.rate,
        queue_waiting=args.queue,
    )
    app = create_app(assistant, library, settings)
    print(f"ragdesk API on http://{args.host}:{args.port} (OpenAPI page: /docs)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return EXIT_OK


if __name__ == "__main__":
    run(main)
