"""What keeps the server responsive under load: a per-client request rate, and a bounded
queue in front of the answer model, which writes one answer at a time."""

from __future__ import annotations

import math
import threading
import time


class Busy(Exception):
    """Refused for now; `retry_after` is seconds to wait before trying again. `status`:
    429 for a client over its rate, 503 when the server itself is full."""

    def __init__(self, message: str, retry_after: int, status: int = 429):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class RateLimiter:
    """A token bucket per client: `per_minute` requests a minute, in bursts of up to
    `burst`."""

    def __init__(self, per_minute: float, burst: int | None = None):
        self.rate = per_minute / 60.0
        self.burst = burst or max(1, int(per_minute // 6))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                self._buckets[client] = (tokens, now)
                wait = math.ceil((1 - tokens) / self.rate) if self.rate else 60
                raise Busy(f"too many requests: at most {self.rate * 60:g} a minute", wait)
            self._buckets[client] = (tokens - 1, now)
            if len(self._buckets) > 10_000:  # forget idle clients, not the busy ones
                for key in [k for k, (_, t) in self._buckets.items() if now - t > 600]:
                    del self._buckets[key]


class Ticket:
    """A place in the answer queue: `with ticket:` waits for the model's turn; leaving
    (or `release()`, for a place never used) gives the place back, once."""

    def __init__(self, queue: AnswerQueue):
        self._queue = queue
        self._released = False
        self._holding = False

    def __enter__(self) -> Ticket:
        self._queue._turn.acquire()
        self._holding = True
        return self

    def __exit__(self, *exc) -> None:
        if self._holding:
            self._holding = False
            self._queue._turn.release()
        self.release()

    def release(self) -> None:
        with self._queue._count_lock:
            if not self._released:
                self._released = True
                self._queue._count -= 1


class AnswerQueue:
    """One answer at a time, with at most `waiting` more queued behind it. A request that
    finds the queue full is refused at once (never left hanging), told when to retry."""

    def __init__(self, waiting: int, seconds_per_answer: float = 15.0):
        self.waiting = waiting
        self.seconds_per_answer = seconds_per_answer
        self._turn = threading.Lock()
        self._count = 0  # answering + waiting
        self._count_lock = threading.Lock()

    @property
    def load(self) -> int:
        return self._count

    def reserve(self) -> Ticket:
        with self._count_lock:
            if self._count > self.waiting:
                raise Busy(
                    f"the answer queue is full ({self._count} questions ahead): try again later",
                    math.ceil(self._count * self.seconds_per_answer),
                    status=503,
                )
            self._count += 1
        return Ticket(self)
