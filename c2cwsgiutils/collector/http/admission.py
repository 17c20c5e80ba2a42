"""Back-pressure of ingestion: a bounded amount of work in flight, and storage outages answered at once.

Each worker process works on at most ``C2C_COLLECTOR_MAX_INFLIGHT`` ingestion requests at a time
(half its threads by default). A request past that bound waits for a slot, at most
``ADMISSION_WAIT`` seconds, on one of the other threads; but the last free thread never waits: it
answers ``503`` with ``Retry-After`` at once, and so does a thread whose wait ran out, and any
request while the storage is down. The server's own queue (requests waiting for a thread, which
the application cannot see) is so drained at the pace of refusals, a fraction of a millisecond
each, instead of holding requests for tens of seconds while their clients time out (and resend
batches that were stored meanwhile). Moderate concurrency (fewer requests at once than threads)
is never refused: it only waits its turn. Before that, the HTTP layer's :class:`PendingGate` bounds
the ingestion requests a process holds at all (and their bodies), refusing the rest on arrival.

A storage outage (the database unreachable, its file unwritable ...) is logged once when it
starts and once when it ends, with the count of requests refused meanwhile, not a traceback per
request. While it lasts, one request per second probes the storage; the others are refused at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from c2cwsgiutils.collector.storage.outage import StorageUnavailable, storage_errors

__all__ = [
    "INGEST_PATHS",
    "OUTAGE_RETRY_AFTER",
    "Admission",
    "PendingGate",
    "Refused",
    "StorageUnavailable",
    "storage_errors",
]

LOG = logging.getLogger(__name__)

OUTAGE_RETRY_AFTER = 5  # seconds a client waits while the storage is down
PROBE_INTERVAL = 1.0  # seconds between two requests let through to probe a storage that is down
ADMISSION_WAIT = 1.0  # seconds a request waits for an ingestion slot (while a thread is left)

T = TypeVar("T")


class Refused(Exception):
    """The request is refused for now: answer ``status`` with ``Retry-After: retry_after``."""

    def __init__(self, status: int, error_type: str, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.retry_after = retry_after


class Admission:
    """The ingestion gate of one worker process: in-flight bound and storage health."""

    def __init__(self, limit: int, retry_after: int, threads: int = 0, wait: float = ADMISSION_WAIT) -> None:
        self.limit = limit
        self.retry_after = retry_after
        self.threads = max(threads, limit + 1)  # the server's threads in this process
        self.wait = wait
        self._lock = threading.Lock()
        self._slot_freed = threading.Condition(self._lock)
        self._in_flight = 0
        self._waiting = 0
        self._errors = storage_errors()
        self._down_since: float | None = None  # monotonic time the outage started
        self._next_probe = 0.0
        self._refused_down = 0
        self.refused_busy = 0  # requests refused because the bound was reached (for tests, status)

    @property
    def in_flight(self) -> int:
        """Ingestion requests being worked on now."""
        return self._in_flight

    @property
    def storage_down(self) -> bool:
        """Whether the last write found the storage unavailable."""
        return self._down_since is not None

    def run(self, work: Callable[[], T]) -> T:
        """``work()`` when admitted; raises :class:`Refused` (503) when busy or the storage is down."""
        with self._lock:
            if self._down_since is not None:
                now = time.monotonic()
                if now < self._next_probe:
                    self._refused_down += 1
                    raise Refused(
                        503,
                        "storage_unavailable",
                        "the collector's storage is unavailable: retry later",
                        OUTAGE_RETRY_AFTER,
                    )
                self._next_probe = now + PROBE_INTERVAL
            if self._in_flight >= self.limit and not self._wait_for_slot():
                self.refused_busy += 1
                raise Refused(
                    503,
                    "overloaded",
                    f"the collector is busy ({self.limit} ingestion requests in progress): retry later",
                    self.retry_after,
                )
            self._in_flight += 1
        try:
            return work()
        finally:
            with self._lock:
                self._in_flight -= 1
                self._slot_freed.notify()

    def _wait_for_slot(self) -> bool:
        """Under the lock: wait for a free slot, unless this is the last free thread (it must stay
        free to refuse what keeps arriving); ``False`` when none came in time."""
        if self._in_flight + self._waiting + 1 >= self.threads:
            return False
        deadline = time.monotonic() + self.wait
        self._waiting += 1
        try:
            while self._in_flight >= self.limit:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._slot_freed.wait(left)
            return True
        finally:
            self._waiting -= 1

    def store(self, insert: Callable[[], T]) -> T:
        """``insert()``, keeping track of the storage's health; raises Refused while it is down."""
        try:
            result = insert()
        except self._errors as exc:
            self._failed(exc)
            raise Refused(
                503,
                "storage_unavailable",
                "the collector's storage is unavailable: retry later",
                OUTAGE_RETRY_AFTER,
            ) from None
        if self._down_since is not None:
            self._recovered()
        return result

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = time.monotonic()
                self._next_probe = self._down_since + PROBE_INTERVAL
                self._refused_down = 0
            self._refused_down += 1
        if first:
            LOG.error(
                "Collector storage unavailable, answering 503 until it is back: %s: %s",
                type(exc).__name__,
                _first_line(exc),
            )

    def _recovered(self) -> None:
        with self._lock:
            since, self._down_since = self._down_since, None
            refused = self._refused_down
        if since is not None:
            LOG.warning(
                "Collector storage available again after %.1f s (%d requests answered 503 meanwhile)",
                time.monotonic() - since,
                refused,
            )


INGEST_PATHS = frozenset(("/api/v1/record", "/v1/logs", "/v1/traces"))


class PendingGate:
    """The ingestion requests a worker process holds, from their arrival to their answer: the HTTP
    layer (:mod:`rsgi_bridge`) asks :meth:`admit` before reading a body, in its event loop's thread
    (so no lock), and refuses at once (503 + ``Retry-After``) what does not fit.

    At most ``count`` requests, and at most ``size`` bytes of declared bodies, per process: that
    bounds the bodies held in memory, and the wait of an admitted request behind the others
    (they are worked on ``Admission.limit`` at a time), whatever the number of clients.
    """

    def __init__(self, count: int, size: int, retry_after: int) -> None:
        self.count = count
        self.size = size
        self.retry_after = retry_after
        self.pending = 0
        self.pending_bytes = 0
        self.refused = 0

    def admit(self, declared: int) -> bool:
        """Take a place for a request whose body is ``declared`` bytes (0: unknown); ``False``: full."""
        if self.pending and (self.pending >= self.count or self.pending_bytes + declared > self.size):
            self.refused += 1
            return False  # (the first request always fits: a single large body is the limit's business)
        self.pending += 1
        self.pending_bytes += declared
        return True

    def release(self, declared: int) -> None:
        """Give back the place taken by :meth:`admit`."""
        self.pending -= 1
        self.pending_bytes -= declared


def _first_line(exc: BaseException) -> Any:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
