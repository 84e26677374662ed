"""Load test of a running API (`python -m rag.serve`) on this machine: 1, 5 and 20
clients asking at once while an upload is ingested.

    .venv/bin/python scripts/load_test_api.py [--url http://127.0.0.1:8000] --key KEY
        [--per-client 2] [--upload FILE...] [--collection default] [--json]

Bounded on purpose: each client asks `--per-client` questions (at most 10), and only a
loopback URL is accepted, so this never loads someone else's server. Each answer is a
POST /api/answers; its latency is measured from the request to the whole answer. A 429
(the client's rate) or 503 (the answer queue full) counts as refused, anything else that
is not 200 as an error. The files given with --upload are sent once per round, so an
ingest runs in the background while the questions are answered.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

QUESTIONS = [
    "How many days of paid holiday do employees get?",
    "¿Cuál es la dieta diaria para viajes nacionales?",
    "How long is the warranty on a lamp?",
    "What is the minimum password length?",
    "¿Cada cuánto se revisa la política de gastos?",
]
CONCURRENCY = (1, 5, 20)


def loopback_only(url: str) -> str:
    host = urlparse(url).hostname or ""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise SystemExit(f"{url}: this load test only runs against a server on this machine")
    return url.rstrip("/")


def request(url: str, key: str, body: bytes, content_type: str, timeout: float = 600):
    headers = {"Content-Type": content_type}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=body, headers=headers), timeout=timeout
        ) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError:
        status = 0  # no answer at all
    return status, time.perf_counter() - started


def upload(base: str, key: str, collection: str, files: list[Path]) -> int:
    """Send the files in one multipart request; the status."""
    boundary = uuid.uuid4().hex
    parts = []
    for path in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + path.read_bytes()
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    status, _ = request(
        f"{base}/api/collections/{collection}/documents",
        key,
        body,
        f"multipart/form-data; boundary={boundary}",
    )
    return status


def round_of(base: str, key: str, clients: int, per_client: int, files, collection) -> dict:
    results: list[tuple[int, float]] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        for i in range(per_client):
            question = QUESTIONS[(n + i) % len(QUESTIONS)]
            body = json.dumps({"question": question}).encode()
            outcome = request(f"{base}/api/answers", key, body, "application/json")
            with lock:
                results.append(outcome)

    uploaded = upload(base, key, collection, files) if files else None
    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    answered = [s for status, s in results if status == 200]
    refused = sum(status in (429, 503) for status, _ in results)
    return {
        "clients": clients,
        "requests": len(results),
        "answered": len(answered),
        "refused": refused,
        "errors": len(results) - len(answered) - refused,
        "latency_p50_s": round(float(np.percentile(answered, 50)), 2) if answered else None,
        "latency_p95_s": round(float(np.percentile(answered, 95)), 2) if answered else None,
        "wall_s": round(wall, 1),
        "upload_status": uploaded,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", required=True, help="an API key (python -m rag.serve keys create)")
    parser.add_argument("--per-client", type=int, default=2, help="questions per client (2)")
    parser.add_argument("--upload", type=Path, nargs="*", default=[], help="files to ingest")
    parser.add_argument("--collection", default="default", help="where uploads go")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    base = loopback_only(args.url)
    per_client = max(1, min(args.per_client, 10))
    rounds = []
    for clients in CONCURRENCY:
        print(f"[{clients} clients] asking {per_client} questions each ...", file=sys.stderr)
        rounds.append(round_of(base, args.key, clients, per_client, args.upload, args.collection))
    if args.json:
        print(json.dumps(rounds, indent=2))
        return
    columns = ["clients", "requests", "answered", "refused", "errors", "latency_p50_s"]
    columns += ["latency_p95_s", "wall_s", "upload_status"]
    print("".join(c.rjust(15) for c in columns))
    for row in rounds:
        print("".join(str(row[c]).rjust(15) for c in columns))


if __name__ == "__main__":
    main()
