"""The collector handler's background thread: batches, retries with back-off, spool and resend.

Order is kept per process: once anything sits in the spool, new batches are appended behind it
and the spool is drained oldest first before records are sent directly again. When the spool
refuses lines (full, or unusable: a read-only or full disk), they are sent directly if the
collector is not in back-off, else held in memory (at most ``queue_size`` lines, the oldest
dropped and counted past that) until it answers again; while the spool is unusable and the
collector in back-off, records wait in the handler's queue instead of being taken.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from typing import Any, Protocol

from c2cwsgiutils import context
from c2cwsgiutils.logging.collector_transport import Outcome, Result, Transport
from c2cwsgiutils.logging.record import constant_fields, record_to_dict, record_to_json
from c2cwsgiutils.logging.record import safe_repr as _safe_repr
from c2cwsgiutils.logging.spool import MAX_RECORD_BYTES, Spool

__all__ = ["Item", "Message", "Sender", "Source", "serialise"]

LOG = logging.getLogger("c2cwsgiutils.logging.collector_handler")

_ENCODER = json.JSONEncoder(default=repr, separators=(",", ":"), allow_nan=False)


# What ``emit`` snapshots in the caller's thread: the record; its message, %-formatted at emit
# time since the args may change later (``None`` when formatting failed: the schema's fallback
# then says why); the caller's correlation context (used unless the record carries its own); the
# formatted traceback (``None`` without ``exc_info``: formatted at emit time, while the exception
# and its frames are what they were). The sender serialises the rest.
# The message as captured by emit: formatted, or its format and arguments when these cannot change
# (formatted here, in the sender thread), or None when formatting failed.
Message = str | tuple[str, tuple[Any, ...]] | None
Item = tuple[logging.LogRecord, Message, context.Context, str | None]


class Source(Protocol):
    """What a :class:`Sender` reads from: the CollectorHandler, or the relay collector's spool."""

    spool: Spool
    spool_dir: str
    batch_size: int
    queue_size: int
    dropped: int
    emit_errors: int

    def queued(self) -> int:
        """Records waiting in memory."""

    def take(self, max_items: int) -> list[Item]:
        """Remove and return up to ``max_items`` records from memory."""

    def to_line(self, item: Item) -> str:
        """The NDJSON line of one record."""


def _encode_value(value: Any) -> str:
    """JSON for an ``extra=`` value; what JSON cannot hold (cycles, NaN, bad reprs) becomes text."""
    try:
        return _ENCODER.encode(value)
    except Exception:
        return _ENCODER.encode(_sanitise(value, ()))


def serialise(item: Item, service: str, uuid: str, constant: str | None = None) -> str:
    """One NDJSON line: the record's schema plus ``c2c_uuid`` (the idempotency key, ``uuid``);
    anything JSON cannot hold becomes text.

    ``constant``: :func:`~c2cwsgiutils.logging.record.constant_fields` of ``service``, if known.
    """
    record, message, ctx, exc_text = item
    attributes = dict(record.__dict__)  # a copy: the record may still be in other handlers' hands
    if type(message) is tuple:
        form, args = message
        try:
            message = form % args
        except Exception:  # the schema's fallback, with the format and arguments emit captured
            attributes["msg"], attributes["args"] = form, args
            message = None
    if message is not None:
        attributes["msg"] = message
        attributes["args"] = None
    attributes["exc_info"] = None
    attributes["exc_text"] = exc_text
    snapshot = logging.LogRecord.__new__(logging.LogRecord)
    snapshot.__dict__ = attributes
    try:
        # The context of emit time, for a record without its own correlation fields.
        text = record_to_json(snapshot, constant or constant_fields(service), _encode_value, ctx=ctx)
        return f'{text[:-1]},"c2c_uuid":"{uuid}"}}'
    except Exception:  # a field of the wrong type (a request_id set to an int ...)
        data = record_to_dict(snapshot, service, ctx=ctx)
        data["c2c_uuid"] = uuid
        return _ENCODER.encode(_sanitise(data, ()))


def _sanitise(value: Any, path: tuple[int, ...]) -> Any:
    """A JSON-safe copy of ``value``: containers copied (a cycle becomes its repr), the rest as text."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (dict, list, tuple)) and id(value) not in path and len(path) < 20:
        inner = (*path, id(value))
        if isinstance(value, dict):
            return {
                (k if isinstance(k, str) else _safe_repr(k)): _sanitise(v, inner) for k, v in value.items()
            }
        return [_sanitise(v, inner) for v in value]
    return _safe_repr(value)


class Sender:
    """Runs in the handler's daemon thread; also answers ``flush`` and ``close`` from other threads."""

    label = "Collector handler"  # how its warnings start
    credentials_hint = "C2C_COLLECTOR_TOKEN"  # named when the collector refuses the credentials
    # What POSTs a batch: (url, token, timeout) -> a Transport (the OTLP handler's converts it).
    transport_factory: type[Transport] = Transport

    def __init__(
        self,
        handler: Source,
        *,
        url: str,
        token: str,
        batch_age: float,
        timeout: float,
        retry_min: float,
        retry_max: float,
        report_interval: float,
        batch_max_bytes: int,
        max_record_bytes: int = MAX_RECORD_BYTES,
        request_end_gap: float = 0.02,
    ) -> None:
        self.handler = handler
        self.request_end_gap = request_end_gap
        self.url = url
        self.token = token
        self.timeout = timeout
        self.batch_age = batch_age
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.report_interval = report_interval
        self.batch_max_bytes = batch_max_bytes
        self.max_record_bytes = max_record_bytes
        self.transport = self.transport_factory(url, token, timeout)
        self._reset()

    def _reset(self) -> None:
        self.wake = threading.Event()
        self.backlog = True  # until the spool has been looked at
        # What this thread holds outside the queue: records taken but not serialised yet, lines
        # not sent nor spooled yet. abandon() hands both to the closing thread, under _handoff.
        self._handoff = threading.Lock()
        self.taken: list[Item] = []
        self.inflight: list[str] = []
        self.held: list[str] = []  # refused by the spool while the collector was in back-off
        self._deadline: float | None = None
        self._early = False  # a unit of work ended: send without waiting for the batch age
        self._last_post = -math.inf  # when the last POST started (monotonic)
        self._abandoned = False
        self._failures = 0
        self._retry_at = 0.0
        self._outage = False
        self._flush_cond = threading.Condition()
        self._flush_requested = 0
        self._flush_done = 0
        self._counts = dict.fromkeys(
            (
                "stored",
                "duplicates",
                "invalid",
                "spooled",
                "resent",
                "dropped",
                "too_large",
                "batches",
                "failures",
            ),
            0,
        )
        self._reported = {"dropped": 0, "invalid": 0}
        self._last_report = time.monotonic()
        self._warned: dict[str, float] = {}

    def after_fork(self) -> None:
        """In a forked child: fresh state, a fresh connection (the parent's socket is not ours)."""
        self.transport = self.transport_factory(self.url, self.token, self.timeout)
        self._reset()

    # ---- control from other threads ------------------------------------------------------

    def flush(self, timeout: float) -> None:
        """Wait until every record queued before this call was sent or spooled (``timeout`` at most)."""
        with self._flush_cond:
            self._flush_requested += 1
            target = self._flush_requested
        self.wake.set()
        deadline = time.monotonic() + timeout
        with self._flush_cond:
            while self._flush_done < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._flush_cond.wait(remaining)

    def soon(self) -> None:
        """A request or task ended (its root span's event is queued): send what is queued now.

        At most one such early POST per ``request_end_gap`` seconds: a busy process keeps sending
        batches (the thread is busy with the previous POST meanwhile), an idle one sends the
        request's records within milliseconds instead of after up to ``batch_age``.
        """
        if not self._early:
            self._early = True
            self.wake.set()

    def stop(self, deadline: float) -> None:
        """Send what can be sent before ``deadline`` (monotonic), spool the rest, then end the thread."""
        self._deadline = deadline
        self.wake.set()

    def abandon(self) -> tuple[list[str], list[Item]]:
        """Stop touching the queue and the spool; returns what the closing thread must spool itself.

        The lines not sent yet (a POST in progress may still deliver them: their uuids make the
        resend a duplicate the collector ignores), held ones included, and the records taken but
        not serialised yet.
        """
        with self._handoff:
            self._abandoned = True
            lines, items = self.held + self.inflight, self.taken
            self.inflight, self.taken, self.held = [], [], []
        self.wake.set()
        return lines, items

    def totals(self) -> dict[str, int]:
        """Counters since start-up (or since the fork)."""
        result = dict(self._counts)
        result["dropped"] += self.handler.dropped
        return result

    # ---- the thread ----------------------------------------------------------------------

    def run(self) -> None:
        """The thread's loop; returns when stopped (after the final flush) or abandoned."""
        next_scan = time.monotonic() + min(self.report_interval, 30.0)
        try:
            while not self._abandoned:
                closing = self._deadline is not None
                if not closing:
                    self.wake.wait(self._wait_time())
                    self.wake.clear()
                    if self._early_too_soon():
                        continue  # the wait above lasts until the gap has passed
                    self._early = False
                flush_seq = self._flush_requested
                try:
                    if self.handler.spool.notices:
                        self._tell_spool_notices()
                    self._drain_queue()
                    now = time.monotonic()
                    if self.backlog and now >= self._retry_at and not self._past_deadline():
                        self._resend_chunk()
                    if now >= next_scan:
                        next_scan = now + min(self.report_interval, 30.0)
                        self._scan()
                    if now - self._last_report >= self.report_interval:
                        self.report()
                except Exception:  # the thread must survive anything, and say so
                    self._warn("bug", "%s: unexpected error in its thread", self.label, exc_info=True)
                    time.sleep(0.1)
                self._mark_flushed(flush_seq)
                if closing and (
                    self._past_deadline()
                    or (
                        self.handler.queued() == 0 and (not self.backlog or time.monotonic() < self._retry_at)
                    )
                ):
                    return
                if closing and self.handler.spool.unusable is not None and not self._may_send():
                    self.wake.wait(0.02)  # nowhere to put the queue until the back-off ends: no spinning
        finally:
            self.transport.close()

    def _wait_time(self) -> float:
        now = time.monotonic()
        if self._retry_at > now:
            return min(self.batch_age, self._retry_at - now)
        if self.backlog or self.held:
            return 0.0
        if self._early:
            return max(0.0, min(self.batch_age, self._last_post + self.request_end_gap - now))
        return self.batch_age

    def _early_too_soon(self) -> bool:
        """Whether only an early send was asked for, within ``request_end_gap`` of the last POST."""
        return (
            self._early
            and time.monotonic() < self._last_post + min(self.request_end_gap, self.batch_age)
            and self._flush_requested == self._flush_done
            and self._deadline is None
            and self.handler.queued() < self.handler.batch_size
        )

    def _may_send(self) -> bool:
        """Whether a POST may be tried now (not in back-off, not past the closing deadline)."""
        return time.monotonic() >= self._retry_at and not self._past_deadline()

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _mark_flushed(self, seq: int) -> None:
        if seq > self._flush_done:
            with self._flush_cond:
                self._flush_done = max(self._flush_done, seq)
                self._flush_cond.notify_all()

    def _drain_queue(self) -> None:
        handler = self.handler
        if self.held and self._may_send():
            with self._handoff:
                if self._abandoned:
                    return
                self.inflight, self.held = self.held, []
            self._send(self.inflight)
            self.inflight = []
        while handler.queued() and not self._abandoned:
            if handler.spool.unusable is not None and not self._may_send():
                return  # the records wait in the queue (bounded: a full queue spools or drops)
            # Until every line is sent or spooled, a closing handler that gives up waiting for
            # this thread spools them itself (a resend at worst, never a loss).
            lines = self._take(handler.batch_size, spool=False)
            if lines is None:
                return
            self._send(lines)
            self.inflight = []

    def _send(self, lines: list[str]) -> None:
        """Send ``lines`` (or spool them behind a backlog, or hold them while the spool refuses)."""
        for batch in self._batches(lines):
            todo = batch
            if self.backlog or not self._may_send():
                todo = self._spool(batch)  # what the spool refused: sent now if possible, else held
                if not todo:
                    continue
                if not self._may_send():
                    self._hold(todo)
                    continue
            left = self._deliver(todo)
            if left:
                self._hold(self._spool(left))

    def _hold(self, lines: list[str]) -> None:
        """Keep ``lines`` in memory until the collector answers (``queue_size`` at most: the oldest
        past it are dropped and counted)."""
        if not lines:
            return
        with self._handoff:
            if self._abandoned:
                return  # the closing thread has them (in flight)
            held = self.held + lines
            excess = len(held) - self.handler.queue_size
            if excess > 0:
                self._counts["dropped"] += excess
                held = held[excess:]
            self.held = held

    def _spill(self) -> None:
        """While a POST waits for a slow collector: move a filling queue to the spool (behind it)."""
        handler = self.handler
        if (
            handler.queued() >= handler.queue_size // 2
            and not self._abandoned
            and handler.spool.unusable is None
        ):
            self._take(handler.queued(), spool=True)

    def _take(self, max_items: int, spool: bool) -> list[str] | None:
        """Take records from the queue and serialise them; then spool them (``spool``) or make them
        the lines in flight. ``None``: abandoned meanwhile (the closing thread has them).
        """
        with self._handoff:
            if self._abandoned:
                return None
            items = self.taken = self.handler.take(max_items)
        lines = self._lines(items)
        with self._handoff:
            self.taken = []
            if self._abandoned:
                return None
            if spool:
                refused = self._spool_locked(lines)
                if refused:  # not delivered, not spooled: held until the collector answers
                    excess = len(self.held) + len(refused) - self.handler.queue_size
                    if excess > 0:
                        self._counts["dropped"] += excess
                    self.held = (self.held + refused)[max(0, excess) :]
            else:
                self.inflight = lines
        return lines

    def _lines(self, items: list[Item]) -> list[str]:
        """Serialise ``items``, letting the application's threads run every few records."""
        lines = []
        limit = self.max_record_bytes
        for index, item in enumerate(items):
            if self._abandoned:
                break
            try:
                line = self.handler.to_line(item)
            except Exception:
                self.handler.emit_errors += 1
                continue
            if len(line) * 4 > limit and len(line.encode("utf-8", "backslashreplace")) > limit:
                self._too_large(len(line.encode("utf-8", "backslashreplace")))
                continue
            lines.append(line)
            if index % 16 == 15:
                # Release the GIL: the application thread never waits for a whole batch (the
                # interpreter would otherwise hand the GIL back only every 5 ms).
                time.sleep(0)
        return lines

    def _batches(self, lines: list[str]) -> list[list[str]]:
        """Cut ``lines`` into batches of about ``batch_max_bytes`` at most."""
        batches: list[list[str]] = [[]]
        size = 0
        for line in lines:
            if size + len(line) > self.batch_max_bytes and batches[-1]:
                batches.append([])
                size = 0
            batches[-1].append(line)
            size += len(line) + 1
        return batches if batches[-1] else []

    def _resend_chunk(self) -> None:
        spool = self.handler.spool
        chunk = spool.next_chunk(self.handler.batch_size, self.batch_max_bytes)
        if chunk is None:
            self.backlog = False
            return
        for size in chunk.too_large:
            self._too_large(size)
        if not chunk.lines:
            spool.ack(chunk)
            return
        if not self._deliver(chunk.lines):
            spool.ack(chunk)
            self._counts["resent"] += len(chunk.lines)

    def _spool(self, lines: list[str]) -> list[str]:
        """Spool ``lines``; returns those the spool refused (full or unusable: the newest)."""
        with self._handoff:
            return self._spool_locked(lines)

    def _spool_locked(self, lines: list[str]) -> list[str]:
        if self._abandoned or not lines:
            return []
        refused = self.handler.spool.append(lines)
        spooled = len(lines) - refused
        self._counts["spooled"] += spooled
        if spooled:
            self.backlog = True
        return lines[spooled:]

    def _tell_spool_notices(self) -> None:
        """Log what the spool found once (a refused segment, a segment that cannot be deleted ...)."""
        notices = self.handler.spool.notices
        while notices:
            text = notices.pop(0)
            if text.startswith("spool directory"):  # unusable: at most once per report interval
                self._warn(
                    "unusable",
                    "%s: %s; records are sent directly while the collector answers, and held in "
                    "memory (at most %d) while it does not",
                    self.label,
                    text,
                    self.handler.queue_size,
                )
            else:
                LOG.warning("%s: %s", self.label, text)

    def _scan(self) -> None:
        spool = self.handler.spool
        spool.scan()
        if spool.pending():
            self.backlog = True

    # ---- one batch -----------------------------------------------------------------------

    def _deliver(self, lines: list[str]) -> list[str]:
        """POST ``lines``; returns those still to send later (empty: sent, or dropped as invalid)."""
        timeout = None
        if self._deadline is not None:
            timeout = self._deadline - time.monotonic()
            if timeout <= 0:
                return lines
        self._last_post = time.monotonic()
        result = self.transport.post(lines, timeout, self._spill)
        self._counts["batches"] += 1
        if result.outcome is Outcome.SENT:
            self._succeeded()
            self._counts["stored"] += result.stored
            self._counts["duplicates"] += result.duplicates
            if result.errors:
                self._invalid(len(result.errors), result)
            return []
        if result.outcome in (Outcome.INVALID, Outcome.TOO_LARGE):
            self._succeeded()
            if len(lines) == 1:
                if result.outcome is Outcome.TOO_LARGE:
                    self._too_large(len(lines[0].encode("utf-8", "backslashreplace")), result.status)
                else:
                    self._invalid(1, result)
                return []
            # Split to isolate what the collector refuses; a failure keeps the unsent part.
            middle = len(lines) // 2
            left = self._deliver(lines[:middle])
            if left:
                return left + lines[middle:]
            return self._deliver(lines[middle:])
        self._failed(result)
        return lines

    def _succeeded(self) -> None:
        self._failures = 0
        self._retry_at = 0.0
        if self._outage:
            self._outage = False
            LOG.info("%s: collector %s reachable again, resending the spool", self.label, self.url)

    def _failed(self, result: Result) -> None:
        self._failures += 1
        self._counts["failures"] += 1
        if result.retry_after is not None:
            # A saturated collector says how long to wait: at least that (a little more, so that
            # clients told the same do not come back together), bounded by retry_max.
            delay = min(self.retry_max, result.retry_after * random.uniform(1.0, 1.1))
        else:
            delay = min(self.retry_max, self.retry_min * 2 ** min(self._failures - 1, 30))
            delay *= random.uniform(0.5, 1.0)
        self._retry_at = time.monotonic() + delay
        self._outage = True
        if self._deadline is not None:
            return  # closing: a short deadline is no outage; what is left stays in the spool
        if result.retry_after is not None:
            self._warn(
                "busy",
                "%s: collector %s is saturated (HTTP %s); waiting %.1f s as it asks (Retry-After), "
                "records kept in the spool %s",
                self.label,
                self.url,
                result.status,
                delay,
                self.handler.spool_dir,
            )
        elif result.outcome is Outcome.AUTH:
            self._warn(
                "auth",
                "%s: collector %s refused the credentials (HTTP %s); records are kept "
                "in the spool %s; check %s",
                self.label,
                self.url,
                result.status,
                self.handler.spool_dir,
                self.credentials_hint,
            )
        else:
            self._warn(
                "down",
                "%s: collector %s unavailable (%s); spooling to %s and retrying with back-off",
                self.label,
                self.url,
                f"HTTP {result.status}: {result.message[:200]}" if result.status else result.message,
                self.handler.spool_dir,
            )

    def _too_large(self, size: int, status: int = 0) -> None:
        """Drop one record too large for the collector (each one said: they are rare and costly)."""
        self._counts["dropped"] += 1
        self._counts["too_large"] += 1
        LOG.warning(
            "%s: dropped a record of %d bytes, too large for the collector (%s; the limit is the "
            "collector's C2C_COLLECTOR_MAX_BODY_BYTES, %d bytes by default)",
            self.label,
            size,
            f"it answered HTTP {status}" if status else f"over {self.max_record_bytes} bytes",
            MAX_RECORD_BYTES,
        )

    def _invalid(self, count: int, result: Result) -> None:
        self._counts["invalid"] += count
        first = result.errors[0] if result.errors else {"line": "?", "error": result.message}
        self._warn(
            "invalid",
            "%s: the collector rejected %d record(s) as invalid (HTTP %s, first: line %s: %s)",
            self.label,
            count,
            result.status,
            first.get("line"),
            str(first.get("error"))[:200],
        )

    # ---- what is reported ----------------------------------------------------------------

    def _warn(self, kind: str, message: str, *args: Any, exc_info: bool = False) -> None:
        """Log a warning at most once per ``report_interval`` per kind (no flood, no feedback loop)."""
        now = time.monotonic()
        if now - self._warned.get(kind, -math.inf) >= self.report_interval:
            self._warned[kind] = now
            LOG.warning(message, *args, exc_info=exc_info)

    def report(self, final: bool = False) -> None:
        """Log one warning with the records dropped and rejected since the last report, if any."""
        self._last_report = time.monotonic()
        dropped = self._counts["dropped"] + self.handler.dropped
        invalid = self._counts["invalid"]
        new_dropped = dropped - self._reported["dropped"]
        new_invalid = invalid - self._reported["invalid"]
        if new_dropped or new_invalid:
            self._reported = {"dropped": dropped, "invalid": invalid}
            LOG.warning(
                "%s: %d record(s) dropped (collector unreachable and spool %s full at %d bytes or "
                "unusable, or too large) and %d rejected as invalid by the collector %s",
                self.label,
                new_dropped,
                self.handler.spool_dir,
                self.handler.spool.max_bytes,
                new_invalid,
                "before exit" if final else "since the last report",
            )
