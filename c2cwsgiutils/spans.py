"""Spans: named, timed, hierarchical steps of a request or task, each ending in one structured event.

::

    with span("checkout") as s:          # a span of its own name
        s.set("cart.items", 3)           # dotted keys build nested fields: {"cart": {"items": 3}}
        with span(".sql") as sql:        # leading dot: a child named "checkout.sql"
            with sql.timeit("db_time"):  # accumulates seconds
                run_query()
            sql.incr("queries")

    @span(".render")                     # decorator form: one span per call
    def render() -> str: ...

Every span belongs to the trace of the current context (a new trace outside any), knows its own
id and its parent's, and while it is open it *is* the current context's span: log records carry
its ``span_id`` and :func:`c2cwsgiutils.propagation.export` hands it to other processes.

When a span ends it emits exactly one event through the logger ``c2cwsgiutils.spans`` at INFO,
whose ``extra=`` fields are ``span_name``, ``start`` (POSIX seconds), ``duration_ms``,
``status`` (``ok``/``error``), ``error_type`` (the exception's class name, or ``""``) and the
span's own fields; the correlation fields (``trace_id``, ``span_id``, ``parent_span_id``,
``request_id`` ...) are those of the context, which is the span's own while it is emitted.

Sampling: ``span(name, sample=0.25)`` records one span in four; a span that is sampled out, or
opened in a context whose ``sampled`` flag is off (e.g. an incoming ``traceparent`` with flag
``00``), emits nothing and silences its children too. When events are off (``C2C_SPANS_EVENTS``
false, or the ``c2cwsgiutils.spans`` logger not enabled for INFO, as with no logging configured
at all) :func:`span` returns a shared do-nothing span: it does not even touch the context.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from c2cwsgiutils import _spans_fast as _fast
from c2cwsgiutils import config, context
from c2cwsgiutils.logging.record import RESERVED_ATTRIBUTES

__all__ = [
    "NullSpan",
    "Span",
    "configure",
    "events_enabled",
    "root_span",
    "span",
]

P = ParamSpec("P")
R = TypeVar("R")

LOG = logging.getLogger("c2cwsgiutils.spans")

EVENTS = config.declare(
    "C2C_SPANS_EVENTS",
    "c2c.spans_events",
    True,
    config.as_bool,
    "Emit one event per finished span through the logger c2cwsgiutils.spans (INFO). Off (or that "
    "logger not enabled for INFO): spans do nothing and cost almost nothing.",
    feature="spans",
)

# Keys of the event itself; a user field with one of these names (or a LogRecord attribute's)
# is renamed with a trailing underscore instead of clobbering it.
EVENT_KEYS = frozenset(("span_name", "start", "duration_ms", "status", "error_type"))
_TAKEN = RESERVED_ATTRIBUTES | EVENT_KEYS
_INFO = logging.INFO


@dataclass
class _State:
    events: bool


def _events_from_environment() -> bool:
    try:
        return EVENTS.get(None)
    except config.ConfigError:
        # Reported with the variable's name by the start-up validation; importing never fails.
        return EVENTS.default


_STATE = _State(events=_events_from_environment())


def configure(events: bool | None = None, settings: Mapping[str, Any] | None = None) -> None:
    """Turn span events on or off for this process.

    ``events`` wins; otherwise the value is read from ``C2C_SPANS_EVENTS`` / the ini ``settings``
    (raising :class:`c2cwsgiutils.config.ConfigError` when invalid).
    """
    _STATE.events = EVENTS.get(settings) if events is None else events


def events_enabled() -> bool:
    """Whether a span opened here now would emit its event."""
    return _STATE.events and LOG.isEnabledFor(_INFO) and context.current().sampled


_fast.check_context_layout()
_Context = context.Context
_new_tuple = tuple.__new__
_new_object = object.__new__
_random = random.random
_MESSAGE = "span %s %s in %.3f ms"
_emit = _fast.make_emitter(LOG, _INFO, _MESSAGE, __file__, "span", _TAKEN)
_getrandbits = random.getrandbits  # reseeded in forked children by the random module itself
_get_context = context._CURRENT.get
_set_context = context._CURRENT.set
_reset_context = context._CURRENT.reset
_time = time.time
_perf_counter = time.perf_counter


class NullSpan:
    """The span handed out when nothing is recorded: every method does nothing."""

    __slots__ = ("name", "sample")

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

    def incr(self, key: str, n: float = 1) -> None:
        """Do nothing."""

    def timeit(self, key: str) -> nullcontext[None]:
        """A context manager that does nothing."""
        return _NULL_CONTEXT

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        return _decorate(func, self.name, self.sample)


_NULL_CONTEXT: nullcontext[None] = nullcontext()
_NULL = NullSpan()
# One do-nothing span per name, so that decorating with a disabled span still knows its name.
_NULLS: dict[str, NullSpan] = {}
_MAX_NULLS = 1024


def _null(name: str, sample: float | None) -> NullSpan:
    if sample is None:
        found = _NULLS.get(name)
        if found is not None:
            return found
        null = NullSpan(name)
        if len(_NULLS) < _MAX_NULLS:
            _NULLS[name] = null
        return null
    return NullSpan(name, sample)


def _decorate(func: Callable[P, R], name: str, sample: float | None) -> Callable[P, R]:
    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with span(name, sample):
            return func(*args, **kwargs)

    return run


class Span:
    """An open span: its ids, its name and its fields; emits its event when it ends.

    Use :func:`span` to make one; ``with`` opens it (yielding the span, or a :class:`NullSpan`
    when it was sampled out). Not reusable: the decorator form makes one span per call.
    """

    __slots__ = (
        "_root",
        "_t0",
        "_token",
        "error_type",
        "fields",
        "name",
        "parent_span_id",
        "sample",
        "span_id",
        "start",
        "status",
        "trace_id",
    )

    recording = True

    def __init__(self, name: str, sample: float | None = None, root: bool = False) -> None:
        self.name = name
        self.sample = sample
        self._root = root
        self.fields: dict[str, Any] = {}
        self.trace_id = self.span_id = self.parent_span_id = self.error_type = ""
        self.status = "ok"
        self.start = self._t0 = 0.0
        self._token: context.Token[context.Context] | None = None

    def __enter__(self) -> Span | NullSpan:
        # Hot path: the ids, and the span's context (a positional copy of the current one, see
        # _spans_fast.check_context_layout for the layout), are built inline rather than by calls.
        ctx = _get_context()
        name = self.name
        if name and name[0] == ".":
            name = self.name = f"{ctx[7]}{name}" if ctx[7] else name[1:]
        if self.sample is not None and _random() >= self.sample:
            self._t0 = 0.0
            self._token = _set_context(
                _new_tuple(_Context, (ctx[0], ctx[1], ctx[2], ctx[3], False, ctx[5], ctx[6], name, *ctx[8:]))
            )
            return _NULL
        if self._root and ctx[2] and not ctx[7]:
            # The unit of work an integration started (request, task, adopted trace) already has
            # its span id: this span stands for it rather than being a child of it.
            trace_id = self.trace_id = ctx[1]
            span_id = self.span_id = ctx[2]
            parent = self.parent_span_id = ctx[3]
        else:
            # Random ids (never all zeros, as W3C asks): getrandbits beats an os.urandom() call.
            trace_id = self.trace_id = ctx[1] or "%032x" % (_getrandbits(128) or 1)
            span_id = self.span_id = "%016x" % (_getrandbits(64) or 1)
            parent = self.parent_span_id = ctx[2]
        self._token = _set_context(
            _new_tuple(_Context, (ctx[0], trace_id, span_id, parent, ctx[4], ctx[5], ctx[6], name, *ctx[8:]))
        )
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
                _emit(
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

    def incr(self, key: str, n: float = 1) -> None:
        """Add ``n`` to the numeric field ``key`` (0 when missing)."""
        target, leaf = self._container(key)
        target[leaf] = target.get(leaf, 0) + n

    @contextmanager
    def timeit(self, key: str) -> Iterator[None]:
        """Within the block, time spent is added (in seconds) to the field ``key``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.incr(key, time.perf_counter() - start)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        return _decorate(func, self.name, self.sample)

    def __repr__(self) -> str:
        return f"<Span {self.name} {self.trace_id}/{self.span_id} parent={self.parent_span_id}>"


def span(name: str, sample: float | None = None) -> Span | NullSpan:
    """A span named ``name`` (``".child"`` joins the current span's name), to use with ``with``.

    ``sample`` (0..1) is the probability that it is recorded; a span not recorded silences its
    children. Also a decorator: ``@span("name")`` opens one span per call. Returns a
    :class:`NullSpan` when events are off (see the module's documentation).
    """
    # LOG.isEnabledFor(INFO) inlined: logging caches its answer per logger (and clears the cache
    # whenever a level changes), a lookup is cheaper than the call when nothing is recorded.
    if _STATE.events and not LOG.disabled:
        enabled = LOG._cache.get(_INFO)  # type: ignore[attr-defined]
        if (LOG.isEnabledFor(_INFO) if enabled is None else enabled) and _get_context().sampled:
            # Span(name, sample) without the cost of calling the class (__enter__ sets the ids).
            new = _new_object(Span)
            new.name = name
            new.sample = sample
            new._root = False
            new.fields = {}
            new.trace_id = new.span_id = new.parent_span_id = new.error_type = ""
            new.status = "ok"
            new._token = None
            return new
    if sample is None:
        found = _NULLS.get(name)
        if found is not None:
            return found
    return _null(name, sample)


def root_span(name: str, sample: float | None = None) -> Span | NullSpan:
    """The span standing for the unit of work an integration started (a request, a task).

    When the current context has a span id but no open span (request tracking, or
    :func:`c2cwsgiutils.propagation.adopt`, made it), this span takes that id and its parent,
    so that log records of the unit and the children of this span share one id; otherwise it is
    a plain :func:`span`.
    """
    if _STATE.events and LOG.isEnabledFor(_INFO) and _get_context().sampled:
        return Span(name, sample, root=True)
    return _null(name, sample)


# ---- Pyramid: one root span per request ----------------------------------------------------

REQUEST_SAMPLE = config.declare(
    "C2C_SPANS_REQUEST_SAMPLE",
    "c2c.spans_request_sample",
    1.0,
    config.bounded(config.as_float, 0, 1),
    "Fraction of the requests whose root span (and so every span under it) is recorded.",
    feature="spans",
)

# The request tracking tween binds the request's context; the root span must be opened inside it.
TRACKING_TWEEN = "c2cwsgiutils.request_tracking.request_tracking_tween_factory"


@dataclass(frozen=True)
class SpansSettings:
    """The spans settings of one application."""

    events: bool
    request_sample: float

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SpansSettings:
        return cls(events=EVENTS.get(settings), request_sample=REQUEST_SAMPLE.get(settings))


def request_span_tween_factory(handler: Callable[[Any], Any], registry: Any) -> Callable[[Any], Any]:
    """Tween opening the root span ``request`` of every request: method, route, status code, duration.

    Without a request ID in the context (request tracking not included), the request's
    ``X-Request-ID`` / ``traceparent`` headers are adopted with ``kind="web"``.
    """
    from c2cwsgiutils import propagation

    settings = config.cached(registry, SpansSettings.from_settings)
    sample = settings.request_sample if settings.request_sample < 1 else None

    def request_span_tween(request: Any) -> Any:
        token = None
        if not context.current().request_id:
            token = propagation.adopt_start(request.headers, kind="web")
        try:
            with root_span("request", sample) as root:
                if not root.recording:
                    return handler(request)
                root.set("method", request.method)
                try:
                    response = handler(request)
                finally:
                    matched = getattr(request, "matched_route", None)
                    root.set("route", matched.name if matched is not None else "")
                root.set("status_code", response.status_code)
                if response.status_code >= 500 and isinstance(root, Span):
                    root.status = "error"
                    exception = getattr(request, "exception", None)
                    if exception is not None:
                        root.error_type = type(exception).__name__
                return response
        finally:
            if token is not None:
                context.restore(token)

    return request_span_tween


def includeme(config_: Any) -> None:
    """Apply the spans settings and add the request root span tween (under request tracking)."""
    from pyramid.tweens import EXCVIEW, INGRESS

    settings = config.cached(config_.registry, SpansSettings.from_settings)
    configure(events=settings.events)
    config_.add_tween(
        "c2cwsgiutils.spans.request_span_tween_factory", under=(TRACKING_TWEEN, INGRESS), over=EXCVIEW
    )
