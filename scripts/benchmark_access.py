"""What people and permissions cost: sign-in, the per-page session check, and search with
and without a reader's access filter.

    .venv/bin/python scripts/benchmark_access.py [--collections 20] [--repeat 200] [--json]

Builds a temporary index of the sample documents copied into `--collections` collections
(hash embedder: the figures are about the filter and the database, not the model), adds
an admin and a reader granted one collection, then times: an argon2id sign-in (a right
and a wrong password), a session check (what every page draw of the app does), building
an Access, and searches as the operator, as the admin and as the reader. Nothing here is
asserted: these machines are noisy, so the figures are reported, not tested.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag.index.writer import ingest_paths  # noqa: E402
from rag.search.retriever import Retriever  # noqa: E402
from rag.text.embedding import HashEmbedder  # noqa: E402
from rag.users import Accounts, SignInError  # noqa: E402

QUESTIONS = [
    "How many days of paid holiday do employees get?",
    "What is the minimum password length?",
    "¿Cuántos días de vacaciones tiene un empleado?",
    "How long is the warranty?",
]
PASSWORD = "benchmark password"


def timed(work, repeat: int) -> dict:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    return {
        "p50_ms": round(statistics.median(seconds) * 1000, 3),
        "p95_ms": round(seconds[int(len(seconds) * 0.95) - 1] * 1000, 3),
    }


def search_with(retriever: Retriever, options: dict):
    """One search a call, cycling through the questions."""
    asked = iter(range(10**9))
    return lambda: retriever.search(QUESTIONS[next(asked) % len(QUESTIONS)], 5, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collections", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-access-"))
    try:
        index = root / "index"
        embedder = HashEmbedder()
        for n in range(args.collections):
            folder = root / f"docs-{n}"
            shutil.copytree(REPO / "sample_docs", folder)
            ingest_paths([folder], index, embedder, collection="default" if n == 0 else f"c{n}")
        accounts = Accounts(index)
        accounts.add("ana", "admin", "bench", password=PASSWORD)
        accounts.add("rita", "reader", "bench", password=PASSWORD)
        accounts.grant("rita", 2, "c1", "bench")
        clock = iter(range(10**9))
        accounts._clock = lambda: float(next(clock)) * 2  # no rate limit between tries
        figures = {"collections": args.collections}
        sign_ins = max(5, args.repeat // 20)  # argon2 is slow by design
        figures["sign_in_right"] = timed(lambda: accounts.sign_in("rita", PASSWORD), sign_ins)

        def wrong():
            try:
                accounts.sign_in(f"guess-{time.perf_counter_ns()}", "wrong password")
            except SignInError:
                pass

        figures["sign_in_wrong"] = timed(wrong, sign_ins)
        _, token = accounts.sign_in("rita", PASSWORD)
        figures["session_check"] = timed(lambda: accounts.session_user(token), args.repeat)
        user = accounts.find("rita")
        figures["access_for"] = timed(
            lambda: accounts.access_for(accounts.find("rita")), args.repeat
        )
        with Retriever.open(index, embedder) as retriever:
            figures["passages"] = retriever.store.passage_count()
            for who, access in (
                ("operator", None),
                ("admin", accounts.access_of("ana")),
                ("reader_one_collection", accounts.access_for(user)),
            ):
                options = {} if access is None else {"access": access}
                figures[f"search_{who}"] = timed(search_with(retriever, options), args.repeat)
        accounts.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{figures['collections']} collections, {figures['passages']} passages")
    for name, value in figures.items():
        if isinstance(value, dict):
            print(f"{name:28} p50 {value['p50_ms']:9.3f} ms   p95 {value['p95_ms']:9.3f} ms")


if __name__ == "__main__":
    main()
