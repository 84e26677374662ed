"""One writer at a time per index: an advisory lock file that dies with its process."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from rag.errors import IndexLockedError

LOCK_NAME = "write.lock"


class WriteLock:
    """flock() on `<index>/write.lock`. The kernel drops it if the holder is killed,
    so a crashed ingest never leaves the index locked."""

    def __init__(self, index_dir: Path, wait: float = 0.0):
        self.path = Path(index_dir) / LOCK_NAME
        self.wait = wait  # seconds to wait for another writer before giving up
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.25)
                    continue
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise IndexLockedError(
                f"another ingest (pid {holder}) is writing to the index {self.path.parent}: "
                "wait for it to finish, or use another --index directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
