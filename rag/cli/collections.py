"""`python -m rag.collections list|create|rename|describe|delete [--index DIR]`.

A collection is a named body of documents in an index (HR, engineering, a client's
contracts); `python -m rag.ingest FOLDER --collection NAME` fills one (creating it), and
`rag.search` / `rag.ask --collection NAME` ask it.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from rag.cli.common import EXIT_OK, EXIT_USAGE, display_path, run
from rag.config import default_index_dir
from rag.library import Library, summarize


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rag.collections", description=__doc__.split("\n\n")[1].strip()
    )
    p.add_argument("--index", default=None, help=f"index directory (default {default_index_dir()})")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    commands = p.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the collections, with their documents and passages")
    create = commands.add_parser("create", help="add an empty collection")
    create.add_argument("name")
    create.add_argument("--description", default="", help="what the collection holds")
    rename = commands.add_parser("rename", help="rename a collection (documents stay)")
    rename.add_argument("name")
    rename.add_argument("new_name")
    describe = commands.add_parser("describe", help="set a collection's description")
    describe.add_argument("name")
    describe.add_argument("description")
    delete = commands.add_parser(
        "delete", help="drop a collection and its documents (files in its folder are deleted)"
    )
    delete.add_argument("name")
    delete.add_argument("--yes", action="store_true", help="really delete (required)")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    library = Library(args.index)
    if args.command == "delete":
        if not args.yes:
            print(
                f"this deletes the collection {args.name!r}, its documents from the index and "
                "the files in its documents folder; run again with --yes to do it"
            )
            return EXIT_USAGE
        results = library.delete_collection(args.name)
        if args.json:
            print(json.dumps([asdict(r) for r in results], indent=2))
        else:
            for result in results:
                print(f"removed  {display_path(result.path)}: {result.detail}")
            print(f"deleted collection {args.name}: {summarize(results)}")
        return EXIT_OK
    if args.command == "create":
        record = library.create_collection(args.name, args.description)
    elif args.command == "rename":
        record = library.rename_collection(args.name, args.new_name)
    elif args.command == "describe":
        record = library.describe_collection(args.name, args.description)
    else:
        records = library.collections()
        if args.json:
            print(json.dumps([asdict(r) for r in records], indent=2, ensure_ascii=False))
        elif not records:
            print(f"no index at {library.index_dir} yet: ingest a folder to make one")
        for r in records:
            about = f"  {r.description}" if r.description else ""
            failed = f", {r.failed} failed" if r.failed else ""
            print(f"{r.name:24} {r.documents} documents{failed}, {r.chunks} passages{about}")
        return EXIT_OK
    if args.json:
        print(json.dumps(asdict(record), indent=2, ensure_ascii=False))
    else:
        print(f"{args.command}d collection {record.name} (documents folder {record.docs_dir})")
    return EXIT_OK


if __name__ == "__main__":
    run(main)
