"""The hot path of :mod:`c2cwsgiutils.spans`: span objects, their ids and their event.

Compiled with mypyc when the package is built on a machine with a C compiler (see setup.py);
the same file runs as plain Python otherwise, or with ``C2C_PURE_PYTHON=1``. It holds only
what every span goes through; :mod:`c2cwsgiutils.spans` is the public module (documentation,
settings, the Pyramid tween). Each choice here is measured by bench/bench_spans.py.

Compiled code checks the declared type of every value it reads: whatever comes from outside
(loggers, handlers, thread objects, user values) is typed ``Any`` here, so that a value of
another type than the stubs say (``propagate = 1`` from ``logging.config.fileConfig``, an int
passed for a float) behaves as in plain Python instead of raising ``TypeError``.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from types import TracebackType
from typing import Any, Final

from c2cwsgiutils import context
from c2cwsgiutils.logging.record import RESERVED_ATTRIBUTES

LOG: Final = logging.getLogger("c2cwsgiutils.spans")
_LOGGER: Final[Any] = LOG  # read untyped (see above)
INFO: Final = logging.INFO
# The logger's own answers to isEnabledFor(level): logging clears this dict in place whenever a
# level changes (Manager._clear_cache), so the dict itself can be kept.
_ENABLED_CACHE: Final[dict[int, Any]] = getattr(LOG, "_cache", {})
MESSAGE: Final = "span %s %s in %.3f ms"
# Keys of the event itself; a user field with one of these names (or a LogRecord attribute's)
# is renamed with a trailing underscore instead of clobbering it.
EVENT_KEYS: Final = frozenset(("span_name", "start", "duration_ms", "status", "error_type"))
_TAKEN: Final = RESERVED_ATTRIBUTES | EVENT_KEYS


class State:
    """Whether span events are on in this process (set by :func:`c2cwsgiutils.spans.configure`)."""

    def __init__(self, events: bool) -> None:
        self.events = events


STATE: Final = State(True)
# Called, without arguments, each time a root span (a request's, a task's) has emitted its event:
# a log handler that batches sends the request's records now (see spans.on_root_span_end).
ROOT_END_HOOKS: Final[list[Any]] = []

_random: Final = random.random
# Random bytes for the ids, from the kernel (a forked child gets its own); not Final, so that a
# test can replace it (and empty _IDS and _TRACE_IDS, the ids drawn ahead).
_random_bytes = os.urandom
_hex: Final = bytes.hex
_ZERO_TRACE_ID: Final = "0" * 32
_ONE_TRACE_ID: Final = "0" * 31 + "1"
_ZERO_SPAN_ID: Final = "0" * 16
_ONE_SPAN_ID: Final = "0" * 15 + "1"
# The current context, its fields untyped: context.bind() takes any value.
_get_context: Final[Callable[[], Any]] = context.current
_set_context: Final = context.start
_reset_context: Final = context.restore
_span_context: Final[Callable[..., Any]] = context.span_context
_unsampled: Final[Callable[..., Any]] = context.unsampled
_time: Final = time.time
_perf_counter: Final = time.perf_counter
_START_TIME: Final[float] = getattr(logging, "_startTime", time.time())
_LOG_RECORD: Final = logging.LogRecord
_new_object: Final = object.__new__
_MODULES: Final = sys.modules
# The logging module's globals, read per record (logThreads...) as the standard library does:
# a dict lookup costs less than a module attribute's.
_LOGGING: Final[dict[str, Any]] = vars(logging)
# Captured at import: a logger class, or a patch of the standard one (an SDK wrapping
# callHandlers, say), that differs from these makes the event take the standard path.
_STANDARD_HANDLE: Final = logging.Logger.handle
_STANDARD_CALL_HANDLERS: Final = logging.Logger.callHandlers
_get_ident: Final = threading.get_ident
_current_thread: Final = threading.current_thread
# What current_thread() reads (ident -> Thread), when this Python has it.
_THREADS: Final[dict[int, Any]] = getattr(threading, "_active", {})
# os.getpid() is a system call per record; the pid only changes in a forked child.
_PID: Final = [os.getpid()]


# Ids drawn ahead: span ids (16 random hex characters) and trace ids (32). One os.urandom() + hex()
# for _IDS_PER_DRAW ids costs a fraction of one random.getrandbits() per id (whose conversions to
# and from an int are per bit). list.pop() hands each id out once, whichever threads ask; a forked
# child drops the parent's (see _after_fork).
_IDS: Final[list[str]] = []
_TRACE_IDS: Final[list[str]] = []
_IDS_PER_DRAW: Final = 128


def _draw(drawn: list[str], width: int) -> str:
    """Refill ``drawn`` with ids of ``width`` hex characters; return one more."""
    chars = _hex(_random_bytes(width // 2 * _IDS_PER_DRAW))
    drawn.extend([chars[i * width : (i + 1) * width] for i in range(1, _IDS_PER_DRAW)])
    return chars[:width]


def _after_fork() -> None:
    _PID[0] = os.getpid()
    # Handed out again in the child, the parent's ids drawn ahead would repeat in both.
    _IDS.clear()
    _TRACE_IDS.clear()
    _PER_THREAD.clear()


os.register_at_fork(after_in_child=_after_fork)


def _decorate(func: Callable[..., Any], name: str, sample: float | None) -> Callable[..., Any]:
    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        with span(name, sample):
            return func(*args, **kwargs)

    return run


class NullSpan:
    """The span handed out when nothing is recorded: every method does nothing."""

    trace_id = ""
    span_id = ""
    parent_span_id = ""
    recording = False

    def __init__(self, name: str = "", sample: float | None = None) -> None:
        self.name = name
        self.sample = sample

    def __enter__(self) -> NullSpan:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        return None

    def set(self, key: str, value: Any) -> None:
        """Do nothing."""

    def append(self, key: str, value: Any) -> None:
        """Do nothing."""

    def incr(self, key: str, n: Any = 1) -> None:
        """Do nothing."""

    def timeit(self, key: str) -> AbstractContextManager[None]:
        """A context manager that does nothing."""
        return _NULL_CONTEXT

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        return _decorate(func, self.name, self.sample)


_NULL_CONTEXT: Final[nullcontext[None]] = nullcontext()
_NULL: Final = NullSpan()
# One do-nothing span per name, so that decorating with a disabled span still knows its name.
_NULLS: Final[dict[str, NullSpan]] = {}
_MAX_NULLS: Final = 1024


def null(name: str, sample: float | None) -> NullSpan:
    """The do-nothing span of that name (shared when ``sample`` is None)."""
    if sample is None:
        found = _NULLS.get(name)
        if found is not None:
            return found
        nothing = NullSpan(name)
        if len(_NULLS) < _MAX_NULLS:
            _NULLS[name] = nothing
        return nothing
    return NullSpan(name, sample)


class Timer:
    """``Span.timeit``: adds the seconds spent in the block to a numeric field."""

    def __init__(self, owner: Span, key: str) -> None:
        self.owner = owner
        self.key = key
        self.start = 0.0

    def __enter__(self) -> None:
        self.start = _perf_counter()

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        self.owner.incr(self.key, _perf_counter() - self.start)


def _root_ended() -> None:
    for hook in ROOT_END_HOOKS:
        with suppress(Exception):  # a hook must never break the request that ends
            hook()


class Span:
    """An open span: its ids, its name and its fields; emits its event when it ends.

    Use :func:`c2cwsgiutils.spans.span` to make one; ``with`` opens it (yielding the span, or a
    :class:`NullSpan` when it was sampled out). Not reusable: the decorator form makes one span per
    call.
    """

    recording = True

    def __init__(self, name: str, sample: float | None = None, root: bool = False) -> None:
        self.name = name
        self.sample = sample
        self._root = root
        self.fields: dict[str, Any] = {}
        self.trace_id = ""
        self.span_id = ""
        self.parent_span_id = ""
        self.error_type = ""
        self.status = "ok"
        self.start = 0.0
        self._t0 = 0.0
        self._token: context.Token[context.Context] | None = None

    def __enter__(self) -> Span | NullSpan:
        ctx = _get_context()
        name = self.name
        if name and name[0] == ".":
            path = ctx.span_path
            name = self.name = f"{path}{name}" if path else name[1:]
        if self.sample is not None and _random() >= self.sample:
            self._t0 = 0.0
            self._token = _set_context(_unsampled(ctx, name))
            return _NULL
        if self._root and ctx.span_id and not ctx.span_path:
            # The unit of work an integration started (request, task, adopted trace) already has
            # its span id: this span stands for it rather than being a child of it.
            trace_id = ctx.trace_id
            span_id = ctx.span_id
            parent = ctx.parent_span_id
        else:
            # Random ids, never all zeros (as W3C asks), from the ones drawn ahead.
            try:  # not "if _IDS": another thread may take the last one in between (plain Python)
                span_id = _IDS.pop()
            except IndexError:
                span_id = _draw(_IDS, 16)
            if span_id == _ZERO_SPAN_ID:
                span_id = _ONE_SPAN_ID
            trace_id = ctx.trace_id
            if not trace_id:
                try:
                    trace_id = _TRACE_IDS.pop()
                except IndexError:
                    trace_id = _draw(_TRACE_IDS, 32)
                if trace_id == _ZERO_TRACE_ID:
                    trace_id = _ONE_TRACE_ID
            parent = ctx.span_id
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_span_id = parent
        self._token = _set_context(_span_context(ctx, trace_id, span_id, parent, name))
        self.start = _time()
        self._t0 = _perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        token = self._token
        if token is None:
            return
        self._token = None
        try:
            if self._t0:
                elapsed = _perf_counter() - self._t0
                if exc_type is not None:
                    self.status = "error"
                    self.error_type = exc_type.__name__
                duration_ms = elapsed * 1000.0
                EMITTER.emit(
                    self.name,
                    self.start,
                    duration_ms,
                    self.status,
                    self.error_type,
                    self.fields,
                    # The record's time: the start plus the elapsed time on the monotonic clock.
                    self.start + elapsed,
                    # round(duration_ms, 3) in a third of the time (durations are not negative).
                    int(duration_ms * 1000.0 + 0.5) / 1000.0,
                )
                if self._root:
                    _root_ended()
        finally:
            _reset_context(token)

    def _container(self, key: str) -> tuple[dict[str, Any], str]:
        if "." not in key:
            return self.fields, key
        *parents, leaf = key.split(".")
        target = self.fields
        for part in parents:
            child = target.get(part)
            if not isinstance(child, dict):
                child = target[part] = {}
            target = child
        return target, leaf

    def set(self, key: str, value: Any) -> None:
        """Set a field; ``"a.b"`` sets ``{"a": {"b": value}}``."""
        if "." in key:
            target, leaf = self._container(key)
            target[leaf] = value
        else:
            self.fields[key] = value

    def append(self, key: str, value: Any) -> None:
        """Append ``value`` to the list field ``key`` (created empty when missing)."""
        target, leaf = self._container(key)
        current = target.get(leaf)
        if isinstance(current, list):
            current.append(value)
        else:
            target[leaf] = [value]

    def incr(self, key: str, n: Any = 1) -> None:
        """Add ``n`` to the numeric field ``key`` (0 when missing)."""
        target, leaf = self._container(key)
        target[leaf] = target.get(leaf, 0) + n

    def timeit(self, key: str) -> AbstractContextManager[None]:
        """Within the block, time spent is added (in seconds) to the field ``key``."""
        return Timer(self, key)

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        return _decorate(func, self.name, self.sample)

    def __repr__(self) -> str:
        return f"<Span {self.name} {self.trace_id}/{self.span_id} parent={self.parent_span_id}>"


def span(name: str, sample: float | None = None) -> Span | NullSpan:
    """See :func:`c2cwsgiutils.spans.span`."""
    # LOG.isEnabledFor(INFO) inlined: logging caches its answer per logger (and clears the cache
    # whenever a level changes), a lookup is cheaper than the call when nothing is recorded.
    if STATE.events:
        enabled = _ENABLED_CACHE.get(INFO)
        if enabled is None:
            enabled = _LOGGER.isEnabledFor(INFO)
        if enabled and not _LOGGER.disabled and _get_context().sampled:
            return Span(name, sample)
    if sample is None:
        found = _NULLS.get(name)
        if found is not None:
            return found
    return null(name, sample)


def root_span(name: str, sample: float | None = None) -> Span | NullSpan:
    """See :func:`c2cwsgiutils.spans.root_span`."""
    if STATE.events and _LOGGER.isEnabledFor(INFO) and _get_context().sampled:
        return Span(name, sample, root=True)
    return null(name, sample)


class ThreadTemplate:
    """A thread's record template: the thread, its name and logging's flags when it was made."""

    def __init__(  # noqa: PLR0917 - made in one place
        self,
        thread: Any,
        name: Any,
        log_threads: Any,
        log_processes: Any,
        log_multiprocessing: Any,
        fields: dict[str, Any],
    ) -> None:
        self.thread = thread
        self.name = name
        self.log_threads = log_threads
        self.log_processes = log_processes
        self.log_multiprocessing = log_multiprocessing
        self.fields = fields


# Thread ident -> its template. A template is made again when the thread object behind the ident,
# its name or logging's logThreads/logProcesses/logMultiprocessing change; all are dropped in a
# forked child (its pid, and multiprocessing's process name, differ), and when there are more than
# _MAX_THREADS (a template and its finished thread, a few kB, are kept until its ident is reused).
_PER_THREAD: Final[dict[int, ThreadTemplate]] = {}
_MAX_THREADS: Final = 1024


class Emitter:
    """Emits a span's event as ``logger.log(level, message, name, status, duration, extra={...})``
    would, in less time.

    The record is a copy of a template of the calling thread (``LogRecord.__init__`` recomputes the
    file name, module and level name of every record, and its thread's and process's names): only
    the time and the extras are filled in per record, the way the standard library does. A thread's
    template is made again when logging's ``logThreads``/``logProcesses``/``logMultiprocessing``
    change, when the thread is renamed, and in a forked child; ``multiprocessing``'s process name
    is read when the template is made (the standard library reads it per record).

    The record is dispatched like ``Logger.handle`` and ``Logger.callHandlers`` do (up the
    hierarchy, every handler whose level lets it through gets ``handler.handle(record)``), without
    their three Python calls. Anything unusual takes the standard path: a custom record factory, a
    logger class overriding ``handle``/``callHandlers``, filters on the logger, no handler at all.
    """

    def __init__(self, logger: logging.Logger, level: int, pathname: str, func: str) -> None:
        self.logger: Any = logger
        self.level = level
        self.pathname = pathname
        self.func = func
        record_class = logging.LogRecord
        template = vars(record_class(logger.name, level, pathname, 0, MESSAGE, (), None, func))
        # Every key of the record is in the template, in the order makeRecord + extra= give, so
        # that its copy (which keeps the room a dict built key by key has) grows only for the user
        # fields.
        template.update(dict.fromkeys(("span_name", "start", "duration_ms", "status", "error_type")))
        self.template: dict[str, Any] = template
        self.has_task_name = "taskName" in template

    def thread_template(self, ident: int) -> ThreadTemplate:
        """The record template of the calling thread (``ident``), filled in as ``LogRecord`` does."""
        log_threads: Any = _LOGGING["logThreads"]
        log_processes: Any = _LOGGING["logProcesses"]
        log_multiprocessing: Any = _LOGGING["logMultiprocessing"]
        fields = self.template.copy()
        thread: Any = _current_thread()  # registers a thread that threading did not start
        name: Any = thread._name  # what Thread.name returns, and what emit() compares
        fields["thread"] = ident if log_threads else None
        fields["threadName"] = name if log_threads else None
        fields["processName"] = None
        if log_multiprocessing:
            fields["processName"] = "MainProcess"
            multiprocessing: Any = _MODULES.get("multiprocessing")
            if multiprocessing is not None:
                try:  # noqa: SIM105 - as the standard library does
                    fields["processName"] = multiprocessing.current_process().name
                except Exception:  # noqa: S110 - same guard as the standard library
                    pass
        fields["process"] = _PID[0] if log_processes else None
        if self.has_task_name:
            fields["taskName"] = None
        cached = ThreadTemplate(thread, name, log_threads, log_processes, log_multiprocessing, fields)
        if len(_PER_THREAD) >= _MAX_THREADS:
            _PER_THREAD.clear()
        _PER_THREAD[ident] = cached
        return cached

    def emit(  # noqa: PLR0917 - positional: a hot path
        self,
        name: str,
        start: float,
        duration_ms: float,
        status: str,
        error_type: str,
        fields: dict[str, Any],
        created: float,
        rounded: float,
    ) -> None:
        """Emit the event of a span (``rounded`` is its duration in ms, ``created`` the record's time)."""
        logger = self.logger
        level = self.level
        args = (name, status, duration_ms)
        if _LOGGING.get("_logRecordFactory") is not _LOG_RECORD:  # a custom factory
            extra = {
                "span_name": name,
                "start": start,
                "duration_ms": rounded,
                "status": status,
                "error_type": error_type,
            }
            for key, value in fields.items():
                extra[f"{key}_" if key in _TAKEN else key] = value
            logger.handle(
                logger.makeRecord(logger.name, level, self.pathname, 0, MESSAGE, args, None, self.func, extra)
            )
            return
        # The template of this thread: the fields that change only with the thread or the process.
        ident = _get_ident()
        thread = _THREADS.get(ident)
        cached = _PER_THREAD.get(ident)
        if (
            cached is None
            or cached.thread is not thread
            or thread is None
            or cached.name is not thread._name
            or cached.log_threads is not _LOGGING["logThreads"]
            or cached.log_processes is not _LOGGING["logProcesses"]
            or cached.log_multiprocessing is not _LOGGING["logMultiprocessing"]
        ):
            cached = self.thread_template(ident)
        attributes = cached.fields.copy()
        attributes["args"] = args
        attributes["created"] = created
        attributes["msecs"] = float(int((created - int(created)) * 1000))  # as logging computes it
        attributes["relativeCreated"] = (created - _START_TIME) * 1000
        if self.has_task_name:  # Python 3.12+
            asyncio: Any = _MODULES.get("asyncio")
            if asyncio is not None and _LOGGING.get("logAsyncioTasks", True):
                try:  # noqa: SIM105 - contextlib.suppress costs more than the rest of this block
                    attributes["taskName"] = asyncio.current_task().get_name()
                except Exception:  # noqa: S110 - no running loop or task
                    pass
        attributes["span_name"] = name
        attributes["start"] = start
        attributes["duration_ms"] = rounded
        attributes["status"] = status
        attributes["error_type"] = error_type
        for key, value in fields.items():
            attributes[f"{key}_" if key in _TAKEN else key] = value
        record: logging.LogRecord = _new_object(_LOG_RECORD)
        record.__dict__ = attributes
        logger_class = type(logger)
        if (
            logger.filters
            or logger_class.handle is not _STANDARD_HANDLE
            or logger_class.callHandlers is not _STANDARD_CALL_HANDLERS
        ):
            logger.handle(record)
            return
        if logger.disabled:
            return
        found = False
        current: Any = logger
        while current is not None:
            for handler in current.handlers:
                found = True
                if level >= handler.level:
                    handler.handle(record)
            current = current.parent if current.propagate else None
        if not found:
            logger.callHandlers(record)  # the standard library's "last resort" behaviour


# The event's source is the public module: the file name and function a LogRecord reports.
EMITTER: Final = Emitter(LOG, INFO, os.path.join(os.path.dirname(__file__), "spans.py"), "span")
