"""Ingests started through the API run in the background, one at a time, each with a
status a client can poll (files done, files to read, a result per file)."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from rag.errors import RagError
from rag.library import FileResult, summarize

KEPT_JOBS = 200  # finished jobs remembered for polling; the oldest are forgotten


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Job:
    id: str
    collection: str
    what: str
    status: str = "queued"  # queued, running, done, failed
    done: int = 0
    total: int = 0
    results: list[FileResult] = field(default_factory=list)
    error: str = ""
    created_at: str = field(default_factory=_now)
    finished_at: str = ""
    owner: str = ""  # who started it: only they (or an admin) may follow it

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "collection": self.collection,
            "what": self.what,
            "status": self.status,
            "done": self.done,
            "total": self.total,
            "summary": summarize(self.results) if self.results else "",
            "results": [asdict(r) for r in self.results],
            "error": self.error,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
        }


# work(progress) -> results; progress(done, total, result)
Work = Callable[[Callable[[int, int, FileResult], None]], list[FileResult]]


class Jobs:
    def __init__(self):
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="api-ingest")

    def start(self, collection: str, what: str, total: int, work: Work, owner: str = "") -> Job:
        job = Job(uuid.uuid4().hex, collection, what, total=total, owner=owner)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEPT_JOBS:
                oldest = next(iter(self._jobs.values()))
                if oldest.status in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)
        self._worker.submit(self._run, job, work)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _run(self, job: Job, work: Work) -> None:
        job.status = "running"

        def progress(done: int, total: int, result: FileResult) -> None:
            job.done, job.total = done, total
            job.results.append(result)

        try:
            results = work(progress)
        except RagError as exc:
            job.status, job.error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - reported to the client, never lost
            job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
        else:
            job.results = results
            job.done = job.total = len(results)
            job.status = "done"
        job.finished_at = _now()

    def shutdown(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=False)
