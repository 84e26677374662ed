"""`python -m rag.users add|remove|list|reset|role|grant|revoke|audit [--index DIR]`.

People who may use the app and the API, their roles (admin, editor, reader) and the
collections granted to them. Run at the machine, as its operator: each change is in the
audit trail under `operator:<your login>`. A password is never taken as an argument (it
would stay in the shell's history): without `--password-stdin` a one-time password is
made up and printed once, and its holder chooses their own at first sign-in.
"""

from __future__ import annotations

import argparse
import json
import sys

from rag.cli.common import EXIT_OK, EXIT_USAGE, run
from rag.config import default_index_dir
from rag.errors import ConfigError
from rag.index import collections as collections_module
from rag.library import Library
from rag.types import ROLES
from rag.users import Accounts, operator


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rag.users", description=__doc__.split("\n\n")[1].strip()
    )
    p.add_argument("--index", default=None, help=f"index directory (default {default_index_dir()})")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    commands = p.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a person")
    add.add_argument("name", help="their sign-in name (an e-mail address for single sign-on)")
    add.add_argument("--role", choices=ROLES, default="reader")
    add.add_argument("--grant", action="append", default=[], metavar="COLLECTION")
    how = add.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    how.add_argument("--sso", action="store_true", help="no password: signs in through the IdP")
    remove = commands.add_parser("remove", help="remove a person, their sessions and API keys")
    remove.add_argument("name")
    remove.add_argument("--yes", action="store_true", help="really remove (required)")
    commands.add_parser("list", help="the people, their roles and collections")
    reset = commands.add_parser("reset", help="a new password (ends their sessions; unlocks)")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    role = commands.add_parser("role", help="change a person's role")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    for verb in ("grant", "revoke"):
        sub = commands.add_parser(verb, help=f"{verb} collections (read; editors also change)")
        sub.add_argument("name")
        sub.add_argument("collections", nargs="+", metavar="COLLECTION")
    audit = commands.add_parser("audit", help="the audit trail, newest first")
    audit.add_argument("--limit", type=int, default=50)
    audit.add_argument(
        "--export", metavar="FILE", help="write all of it as JSON lines ('-': stdout)"
    )
    return p


def _password_from_stdin() -> str:
    return sys.stdin.readline().rstrip("\r\n")


def _collection(library: Library, name: str) -> tuple[int, str]:
    store = library.store()
    if store is None:
        raise ConfigError("there is no index yet: ingest documents or create a collection first")
    record = collections_module.find(store, name)
    return record.id, record.name


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    index_dir = args.index or default_index_dir()
    accounts = Accounts(index_dir)
    by = operator()
    try:
        return _command(args, accounts, Library(index_dir), by)
    finally:
        accounts.close()


def _command(args, accounts: Accounts, library: Library, by: str) -> int:
    if args.command == "add":
        password = _password_from_stdin() if args.password_stdin else None
        grants = [_collection(library, name) for name in args.grant]  # checked before adding
        user, one_time = accounts.add(args.name, args.role, by, password, sso_only=args.sso)
        for collection_id, name in grants:
            accounts.grant(user.name, collection_id, name, by)
        print(f"added {user.name} ({user.role})")
        if one_time:
            print(f"one-time password: {one_time}")
            print("hand it over once: they choose their own password at first sign-in")
    elif args.command == "remove":
        if not args.yes:
            print(f"this removes {args.name!r} with their sessions and API keys: add --yes")
            return EXIT_USAGE
        accounts.remove(args.name, by)
        print(f"removed {args.name}")
    elif args.command == "reset":
        password = _password_from_stdin() if args.password_stdin else None
        one_time = accounts.reset_password(args.name, by, password)
        print(f"new password set for {args.name}; their sessions are ended")
        if one_time:
            print(f"one-time password: {one_time}")
    elif args.command == "role":
        user = accounts.set_role(args.name, args.role, by)
        print(f"{user.name} is now {user.role}")
    elif args.command in ("grant", "revoke"):
        change = accounts.grant if args.command == "grant" else accounts.revoke
        for name in args.collections:
            collection_id, collection_name = _collection(library, name)
            change(args.name, collection_id, collection_name, by)
        print(f"{args.command}ed {args.name}: {', '.join(args.collections)}")
    elif args.command == "audit":
        if args.export:
            out = sys.stdout if args.export == "-" else open(args.export, "w", encoding="utf-8")
            try:
                count = accounts.audit.export_jsonl(out)
            finally:
                if out is not sys.stdout:
                    out.close()
            if out is not sys.stdout:
                print(f"wrote {count} entries to {args.export}")
            return EXIT_OK
        entries = accounts.audit.entries(limit=args.limit)
        if args.json:
            print(json.dumps([e.as_dict() for e in entries], indent=2, ensure_ascii=False))
        for e in entries:
            where = f" [{e.collection}]" if e.collection else ""
            detail = json.dumps(e.detail, ensure_ascii=False) if e.detail else ""
            print(f"{e.at}  {e.actor:24} {e.action}{where} {detail}")
    else:
        names = {c.id: c.name for c in library.collections()}
        users = accounts.users()
        listed = [
            {
                "name": u.name,
                "role": u.role,
                "collections": "all"
                if u.role == "admin"
                else [names[c] for c in u.collections if c in names],
                "password": "set" if u.has_password else "none (single sign-on)",
                "one_time_password": u.must_change_password,
                "created_at": u.created_at,
            }
            for u in users
        ]
        if args.json:
            print(json.dumps(listed, indent=2))
        for u in listed:
            granted = (
                u["collections"]
                if isinstance(u["collections"], str)
                else ", ".join(u["collections"]) or "none"
            )
            print(f"{u['name']:32} {u['role']:7} collections: {granted}")
        if not listed and not args.json:
            print(
                "nobody yet: the app makes the admin at its first start, or run "
                "`python -m rag.users add NAME --role admin`"
            )
    return EXIT_OK


if __name__ == "__main__":
    run(main)
