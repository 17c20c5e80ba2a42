"""``CollectorHandler``: ship log records to the c2cwsgiutils collector without ever blocking the app.

``emit`` snapshots what may change once it returns (the %-formatted message, the correlation
context, the formatted traceback of an exception) and appends the record to a bounded in-memory
``deque``: no I/O, no lock, no serialisation in the caller's thread. A daemon thread serialises
each record once (:func:`~c2cwsgiutils.logging.record.record_to_json` plus a client-side
idempotency key, ``c2c_uuid``) and sends
gzip NDJSON batches (by size or age) over a keep-alive connection. While the collector is
unreachable or slow, or the queue is full, records go to a bounded disk spool
(:mod:`c2cwsgiutils.logging.spool`), resent oldest first when the collector answers again; the
uuids make every resend idempotent. On close (``atexit``, ``logging.shutdown``) it flushes for
at most ``flush_timeout`` seconds and leaves the rest in the spool, which the next process using
the same spool directory resends. Fork-safe: a forked child gets its own queue, thread, spool
segments and uuid prefix.

Usable from ``logging.config.dictConfig`` (``"class":
"c2cwsgiutils.logging.collector_handler.CollectorHandler"``) and from ini ``[handler_*]``
sections; every argument left out comes from its ``C2C_COLLECTOR_*`` environment variable.
"""

from __future__ import annotations

import atexit
import hashlib
import itertools
import logging
import os
import tempfile
import threading
import time
import weakref
from collections import deque
from typing import Any

from c2cwsgiutils import _compiled, config, spans
from c2cwsgiutils.logging._collector_sender import Item, Sender, serialise
from c2cwsgiutils.logging.record import constant_fields
from c2cwsgiutils.logging.spool import MAX_RECORD_BYTES, Spool

_compiled.load("c2cwsgiutils.logging._emit_core")  # compiled when built so (see c2cwsgiutils._compiled)
from c2cwsgiutils.logging._emit_core import emit as _emit  # noqa: E402 - the module load() chose

__all__ = ["CollectorHandler"]

LOG = logging.getLogger("c2cwsgiutils.logging.collector_handler")

URL = config.declare(
    "C2C_COLLECTOR_URL",
    "c2c.collector_url",
    "",
    config.as_str,
    "Base URL of the log collector the CollectorHandler ships records to (it POSTs to "
    "{url}/api/v1/record). Empty: the handler drops every record.",
    feature="collector",
)
TOKEN = config.declare(
    "C2C_COLLECTOR_TOKEN",
    "c2c.collector_token",
    "",
    config.as_str,
    "API token the CollectorHandler sends as 'Authorization: Bearer <token>' (a writer token).",
    secret=True,
    feature="collector",
)
SERVICE_NAME = config.declare(
    "C2C_SERVICE_NAME",
    "c2c.service_name",
    "",
    config.as_str,
    "Service name carried by every log record (the 'service' field).",
    feature="collector",
)
SPOOL_DIR = config.declare(
    "C2C_COLLECTOR_SPOOL_DIR",
    "c2c.collector_spool_dir",
    "",
    config.as_str,
    "Directory where the CollectorHandler keeps the records it could not send yet (shared by every "
    "process of a service). Created with mode 0700; one owned by another user or writable by group "
    "or others is refused. Empty: {tmp}/c2cwsgiutils-collector-{uid}/{hash of the URL}.",
    feature="collector",
)
SPOOL_MAX_BYTES = config.declare(
    "C2C_COLLECTOR_SPOOL_MAX_BYTES",
    "c2c.collector_spool_max_bytes",
    100 * 1024 * 1024,
    config.bounded(config.as_int, 0),
    "Bound of the spool directory in bytes, all processes together; records past it are sent "
    "directly or held in memory, and dropped, counted and reported once a minute when neither works.",
    feature="collector",
)
QUEUE_SIZE = config.declare(
    "C2C_COLLECTOR_QUEUE_SIZE",
    "c2c.collector_queue_size",
    10000,
    config.bounded(config.as_int, 1),
    "Records the CollectorHandler keeps in memory; when full, emit appends to the spool instead.",
    feature="collector",
)
BATCH_SIZE = config.declare(
    "C2C_COLLECTOR_BATCH_SIZE",
    "c2c.collector_batch_size",
    1000,
    config.bounded(config.as_int, 1),
    "Records per POST to the collector at most (a batch also stops at about 1 MB).",
    feature="collector",
)
BATCH_AGE = config.declare(
    "C2C_COLLECTOR_BATCH_AGE",
    "c2c.collector_batch_age",
    1.0,
    config.bounded(config.as_float, 0.001),
    "Seconds a record waits in memory at most before it is sent.",
    feature="collector",
)
TIMEOUT = config.declare(
    "C2C_COLLECTOR_TIMEOUT",
    "c2c.collector_timeout",
    10.0,
    config.bounded(config.as_float, 0.01),
    "Seconds the CollectorHandler waits for the collector to connect or answer a POST.",
    feature="collector",
)
FLUSH_TIMEOUT = config.declare(
    "C2C_COLLECTOR_FLUSH_TIMEOUT",
    "c2c.collector_flush_timeout",
    5.0,
    config.bounded(config.as_float, 0),
    "Seconds the CollectorHandler spends sending at process exit; what is left stays in the spool.",
    feature="collector",
)


def _resolve(value: Any, setting: config.Setting[Any]) -> Any:
    """An explicit argument (converted and checked like the setting) or the environment / default."""
    if value is None:
        return setting.get(None)
    return setting.get({setting.ini: value}, environ={})


def default_spool_dir(url: str) -> str:
    """The spool directory used when none is configured: one per user and collector URL under the
    temp dir (created ``0700``; refused if another user made it first)."""
    digest = hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), f"c2cwsgiutils-collector-{os.geteuid()}", digest)


class CollectorHandler(logging.Handler):
    """A logging handler shipping records to the collector; ``emit`` never blocks nor raises.

    Every argument left to ``None`` comes from its environment variable (``C2C_COLLECTOR_*``
    in ``docs/settings.md``); ``retry_min``/``retry_max`` bound the exponential back-off (with jitter; a
    ``Retry-After`` answer is waited for, up to ``retry_max``), ``report_interval`` is the period of
    the dropped-records warning, ``max_record_bytes`` the size past which a record is dropped (the
    collector's ``C2C_COLLECTOR_MAX_BODY_BYTES``, 16 MiB by default). When a web request or a
    Celery task ends (its root span's event is queued), the queued records are sent at once rather
    than after up to ``batch_age``, at most once per ``request_end_gap`` seconds (see
    :func:`c2cwsgiutils.spans.on_root_span_end`).
    """

    sender_class: type[Sender] = Sender  # the thread's logic (the OTLP handler's exports by OTLP)

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        service: str | None = None,
        *,
        spool_dir: str | None = None,
        spool_max_bytes: int | str | None = None,
        queue_size: int | str | None = None,
        batch_size: int | str | None = None,
        batch_age: float | str | None = None,
        timeout: float | str | None = None,
        flush_timeout: float | str | None = None,
        retry_min: float = 1.0,
        retry_max: float = 60.0,
        report_interval: float = 60.0,
        batch_max_bytes: int = 1_000_000,
        max_record_bytes: int = MAX_RECORD_BYTES,
        request_end_gap: float = 0.02,
        level: int | str = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self.url: str = _resolve(url, URL).strip()
        self.service: str = _resolve(service, SERVICE_NAME)
        self.queue_size: int = _resolve(queue_size, QUEUE_SIZE)
        self.batch_size: int = _resolve(batch_size, BATCH_SIZE)
        self.flush_timeout: float = _resolve(flush_timeout, FLUSH_TIMEOUT)
        self.spool_dir: str = _resolve(spool_dir, SPOOL_DIR) or default_spool_dir(self.url)
        self.dropped = 0  # records lost in emit (spool full, spool unusable) since the last report
        self.emit_errors = 0
        self.overflowed = 0  # records emit wrote straight to the spool (queue full)
        self._queue: deque[Item] = deque()
        self._constant = constant_fields(self.service)
        self._closed = False
        self._room = self.queue_size  # 0 once closed: emit then spools, as when the queue is full
        self._needs_start = False
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._new_identity()
        self.spool = Spool(
            self.spool_dir, _resolve(spool_max_bytes, SPOOL_MAX_BYTES), max_record_bytes=int(max_record_bytes)
        )
        self.sender: Sender | None = None
        if not self.url:
            return
        try:
            self.sender = self.sender_class(
                self,
                url=self.url,
                token=_resolve(token, TOKEN),
                batch_age=_resolve(batch_age, BATCH_AGE),
                timeout=_resolve(timeout, TIMEOUT),
                retry_min=float(retry_min),
                retry_max=float(retry_max),
                report_interval=float(report_interval),
                batch_max_bytes=int(batch_max_bytes),
                max_record_bytes=int(max_record_bytes),
                request_end_gap=float(request_end_gap),
            )
        except ValueError as exc:
            if isinstance(exc, config.ConfigError):
                raise
            raise config.ConfigError(
                f"{URL.env} (or the handler's url argument) must be http(s)://host[:port][/prefix] "
                f"(got {self.url!r})"
            ) from None
        try:
            self.spool.open()
        except OSError as exc:
            self.spool.unusable = f"{type(exc).__name__}: {exc}"
            LOG.warning(
                "Collector handler: spool directory %s is unusable (%s); records are sent directly, "
                "and held in memory (at most %d) while the collector does not answer",
                self.spool_dir,
                exc,
                self.queue_size,
            )
        _HANDLERS.add(self)
        self._start()

    def _new_identity(self) -> None:
        # uuid = 80 random bits per process + a 48-bit counter: unique, and far cheaper than uuid4().
        self._uuid_prefix = os.urandom(10).hex()
        self._counter = itertools.count()

    def _start_in_child(self) -> None:
        with self._start_lock:
            if self._needs_start and not self._closed:
                self._start()

    def _start(self) -> None:
        assert self.sender is not None
        self._needs_start = False
        self._thread = threading.Thread(target=self.sender.run, name="c2c-collector-sender", daemon=True)
        self._thread.start()

    # ---- the hot path --------------------------------------------------------------------

    def handle(self, record: logging.LogRecord) -> Any:
        """``logging.Handler.handle`` without the handler's lock: ``emit`` is thread-safe by itself.

        So no thread ever waits for another in here, and this handler's own thread can log (its
        rate-limited warnings) while ``logging.shutdown`` holds the lock to flush and close it.
        """
        if self.filters:
            result: Any = self.filter(record)
            if not result:
                return result
            if isinstance(result, logging.LogRecord):  # Python >= 3.12: a filter may replace it
                record = result
        _emit(self, record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Snapshot ``record`` and queue it (or spool it when the queue is full); never raises.

        See :func:`c2cwsgiutils.logging._emit_core.emit` (compiled when the package is built so).
        """
        _emit(self, record)

    def to_line(self, item: Item) -> str:
        """The NDJSON line of a captured record, with a new ``c2c_uuid`` (called once per record)."""
        return serialise(item, self.service, f"{self._uuid_prefix}{next(self._counter):012x}", self._constant)

    def take(self, max_items: int) -> list[Item]:
        """Pop up to ``max_items`` queued records, oldest first (for the sender)."""
        batch: list[Item] = []
        queue = self._queue
        try:
            while len(batch) < max_items:
                batch.append(queue.popleft())
        except IndexError:
            pass
        return batch

    def queued(self) -> int:
        """How many records wait in memory."""
        return len(self._queue)

    # ---- flush, close, fork --------------------------------------------------------------

    def flush(self) -> None:
        """Hand every queued record to the collector or the spool; waits ``flush_timeout`` at most."""
        if self.sender is None or self._thread is None or not self._thread.is_alive():
            return
        if threading.current_thread() is self._thread:
            return
        self.sender.flush(self.flush_timeout)

    def close(self) -> None:
        """Send for at most ``flush_timeout`` seconds, spool the rest, stop the thread (idempotent)."""
        if self._closed:
            super().close()
            return
        self._closed = True
        self._room = 0
        sender = self.sender
        if sender is not None:
            thread = self._thread
            if thread is not None and thread.is_alive() and threading.current_thread() is not thread:
                sender.stop(time.monotonic() + self.flush_timeout)
                thread.join(self.flush_timeout + 0.5)
            # Whatever the thread did not get to (a collector hanging past the deadline, a thread
            # that never started in this forked child) stays on disk for the next process.
            inflight, taken = sender.abandon()
            leftover = [self.to_line(item) for item in taken + self.take(len(self._queue) + 1)]
            self.dropped += self.spool.append(inflight + leftover)
            sender.report(final=True)
            self.spool.close()
        _HANDLERS.discard(self)
        super().close()

    def _after_fork_in_child(self) -> None:
        self._queue = deque()  # the parent still holds (and sends) these records
        self._start_lock = threading.Lock()
        self.dropped = self.emit_errors = self.overflowed = 0
        self._new_identity()
        self._thread = None
        if self.sender is not None and not self._closed:
            self.sender.after_fork()
            self.spool.after_fork()
            self._needs_start = True

    def stats(self) -> dict[str, int]:
        """Counters since start-up: ``stored``, ``duplicates``, ``invalid``, ``spooled``, ``dropped`` ..."""
        result = {"queued": len(self._queue), "emit_errors": self.emit_errors, "overflowed": self.overflowed}
        if self.sender is not None:
            result.update(self.sender.totals())
        return result


_HANDLERS: weakref.WeakSet[CollectorHandler] = weakref.WeakSet()


def _unit_of_work_ended() -> None:
    """A request or task ended: every handler sends its records now (see Sender.soon)."""
    for handler in list(_HANDLERS):
        sender = handler.sender
        if sender is not None:
            sender.soon()


def _after_fork_in_child() -> None:
    for handler in list(_HANDLERS):
        handler._after_fork_in_child()


def _close_all_at_exit() -> None:
    for handler in list(_HANDLERS):
        handler.close()


os.register_at_fork(after_in_child=_after_fork_in_child)
spans.on_root_span_end(_unit_of_work_ended)
atexit.register(_close_all_at_exit)
