"""Vector stores compared on synthetic chunks: FAISS flat, FAISS IVF and Milvus Lite.

    .venv/bin/python scripts/benchmark_vector_stores.py [--n 100000] [--json]

The vectors are unit vectors in 384 dimensions (multilingual-e5-small's size) drawn
around 500 random centres, so neighbours are close the way passages of one topic are;
the questions are 200 more drawn the same way. Each store runs in its own child process,
so its memory is its own: it is built through the VectorStore protocol (all vectors in
one `add`, as a sync from the database does, then `flush`), then searched 50 deep (the
retriever's depth) with and without a filter keeping one collection of a tenth of the
chunks. Recall@10 is against the exact top 10 computed with numpy. Nothing here is
asserted: these machines are noisy, so the figures are reported, not tested.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DIMENSION = 384
CENTRES = 500
SPREAD = 0.6  # noise norm around a centre: cosine to the centre about 0.86
QUESTIONS = 200
DEPTH = 50
RECALL_K = 10
FILTERED_SHARE = 10  # every tenth chunk is in collection 2
STORES = ("faiss-flat", "faiss-ivf", "milvus-lite")


def clustered(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CENTRES, DIMENSION)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    rng = np.random.default_rng(seed + n)
    noise = rng.standard_normal((n, DIMENSION)).astype(np.float32) * (SPREAD / DIMENSION**0.5)
    vectors = centres[rng.integers(0, CENTRES, n)] + noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact_top(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> list[set]:
    return [set(ids[np.argsort(-(vectors @ q), kind="stable")[:k]].tolist()) for q in queries]


def percentile(values, q) -> float:
    return float(np.percentile(np.asarray(values), q))


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_store(kind: str, n: int, folder: Path) -> dict:
    """Build and search one store in this process; its figures."""
    from rag.index.store import Store

    vectors = clustered(n, seed=1)
    queries = clustered(QUESTIONS, seed=2)
    ids = np.arange(1, n + 1, dtype=np.int64)
    documents = ids // 20
    collections = np.where(ids % FILTERED_SHARE == 0, 2, 1)
    exact = exact_top(vectors, ids, queries, RECALL_K)
    kept = collections == 2
    exact_filtered = exact_top(vectors[kept], ids[kept], queries, RECALL_K)
    baseline = rss_mib()

    store = Store(folder)
    started = time.perf_counter()
    if kind.startswith("faiss"):
        from rag.index.vectors import VectorIndex

        index = VectorIndex.load(
            folder, DIMENSION, approximate_above=n if kind == "faiss-flat" else 0
        )
    else:
        from rag.index.milvus import MilvusVectors

        index = MilvusVectors.open(folder, DIMENSION, store, uri="milvus-lite")
    index.add(ids, vectors, documents, collections)
    index.flush()
    build_s = time.perf_counter() - started
    memory = rss_mib() - baseline

    from rag.index.vector_store import VectorFilter

    figures: dict = {
        "build_s": round(build_s, 1),
        "approximate": bool(index.approximate),
        "memory_mib": round(memory, 1),
        "disk_mib": round(
            sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1
        ),
    }
    for label, where, truth in (
        ("", None, exact),
        ("filtered_", VectorFilter.of(collections=[2]), exact_filtered),
    ):
        index.search(queries[0], DEPTH, where)  # warm
        times, recalls = [], []
        for q, want in zip(queries, truth, strict=True):
            started = time.perf_counter()
            found = index.search(q, DEPTH, where)
            times.append((time.perf_counter() - started) * 1000)
            recalls.append(len({i for i, _ in found[:RECALL_K]} & want) / RECALL_K)
        figures[f"{label}search_p50_ms"] = round(percentile(times, 50), 2)
        figures[f"{label}search_p95_ms"] = round(percentile(times, 95), 2)
        figures[f"{label}recall@10"] = round(float(np.mean(recalls)), 4)
    figures["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    index.close()
    store.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="synthetic chunks (100000)")
    parser.add_argument("--only", choices=STORES, action="append", help="just these stores")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=STORES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory(prefix="rag-bench-store-") as tmp:
            print(json.dumps(run_store(args.child, args.n, Path(tmp))))
        return
    results = {}
    for kind in args.only or STORES:
        print(f"[{kind}] building and searching {args.n} vectors ...", file=sys.stderr)
        child = subprocess.run(
            [sys.executable, __file__, "--child", kind, "--n", str(args.n)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=False,
        )
        if child.returncode != 0:
            raise SystemExit(f"{kind} failed:\n{child.stderr}")
        results[kind] = json.loads(child.stdout.strip().splitlines()[-1])
    report = {"n": args.n, "dimension": DIMENSION, "depth": DEPTH, "stores": results}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    columns = [
        "build_s",
        "memory_mib",
        "disk_mib",
        "search_p50_ms",
        "search_p95_ms",
        "recall@10",
        "filtered_search_p50_ms",
        "filtered_search_p95_ms",
        "filtered_recall@10",
    ]
    print(f"{args.n} chunks, {DIMENSION} dimensions, searched {DEPTH} deep")
    print("".ljust(24) + "".join(kind.rjust(14) for kind in results))
    for column in columns:
        print(column.ljust(24) + "".join(str(f[column]).rjust(14) for f in results.values()))


if __name__ == "__main__":
    main()
