"""`python -m rag.search "query" [--k N] [--json]`: print the best passages for a query."""

from __future__ import annotations

import argparse
import json
import textwrap

from rag.cli.common import (
    EXIT_OK,
    access_of,
    add_collection_argument,
    add_user_argument,
    display_path,
    run,
)
from rag.config import default_index_dir
from rag.index.store import DEFAULT_COLLECTION
from rag.search.retriever import Retriever


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rag.search", description="Search an index.")
    p.add_argument("query")
    p.add_argument("--k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--index", default=None, help=f"index directory (default {default_index_dir()})")
    p.add_argument("--source", default=None, help="only files matching this glob, e.g. '*.pdf'")
    add_collection_argument(p)
    add_user_argument(p)
    p.add_argument("--json", action="store_true", help="print hits as JSON")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    access = access_of(args.index, args.user)
    with Retriever.open(args.index) as retriever:
        hits = retriever.search(
            args.query, k=args.k, source=args.source, collection=args.collection, access=access
        )
    if args.json:
        print(json.dumps([h.as_dict() for h in hits], indent=2, ensure_ascii=False))
        return EXIT_OK
    if not hits:
        print("no matching passages")
    for n, hit in enumerate(hits, start=1):
        where = display_path(hit.source) + (f", page {hit.page}" if hit.page else "")
        if hit.collection != DEFAULT_COLLECTION:
            where = f"{hit.collection}: {where}"
        heading = f" — {hit.heading}" if hit.heading else ""
        print(f"[{n}] {where}{heading}  (score {hit.score:.4f})")
        snippet = " ".join(hit.text.split())
        print(textwrap.indent(textwrap.shorten(snippet, 300, placeholder=" …"), "    "))
    return EXIT_OK


if __name__ == "__main__":
    run(main)
