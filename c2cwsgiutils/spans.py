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

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from c2cwsgiutils import _compiled, config, context

_compiled.load("c2cwsgiutils._spans_core")  # compiled when built so (see c2cwsgiutils._compiled)
from c2cwsgiutils import _spans_core as _core  # noqa: E402 - the module load() chose
from c2cwsgiutils._spans_core import EVENT_KEYS, NullSpan, Span, root_span, span  # noqa: E402

__all__ = [
    "EVENT_KEYS",
    "NullSpan",
    "Span",
    "compiled",
    "configure",
    "describe_request",
    "events_enabled",
    "mark_failed",
    "on_root_span_end",
    "root_span",
    "span",
]

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

# Whether the hot path runs compiled (mypyc) or as plain Python (see c2cwsgiutils._compiled).
compiled = _compiled.is_compiled(_core)


def _events_from_environment() -> bool:
    try:
        return EVENTS.get(None)
    except config.ConfigError:
        # Reported with the variable's name by the start-up validation; importing never fails.
        return EVENTS.default


_core.STATE.events = _events_from_environment()


def configure(events: bool | None = None, settings: Mapping[str, Any] | None = None) -> None:
    """Turn span events on or off for this process.

    ``events`` wins; otherwise the value is read from ``C2C_SPANS_EVENTS`` / the ini ``settings``
    (raising :class:`c2cwsgiutils.config.ConfigError` when invalid).
    """
    _core.STATE.events = EVENTS.get(settings) if events is None else events


def on_root_span_end(hook: Callable[[], None]) -> None:
    """Call ``hook()`` each time a root span (a web request's, a Celery task's) has emitted its event.

    The :class:`~c2cwsgiutils.logging.collector_handler.CollectorHandler` sends the records of the
    unit of work that just ended at once this way, instead of after up to its batch age. The hook
    runs in the thread that ends the span, right after the event was logged: it must be quick and
    not log; its exceptions are ignored. Added once per call (since 7.0).
    """
    _core.ROOT_END_HOOKS.append(hook)


def events_enabled() -> bool:
    """Whether a span opened here now would emit its event."""
    return _core.STATE.events and LOG.isEnabledFor(logging.INFO) and context.current().sampled


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


WEB_SPAN_KEY = "c2c.web_span"
"""The WSGI environ key holding the open web span of :class:`RequestTrackingMiddleware` (if any)."""
MAX_ERROR_MESSAGE = 500


def mark_failed(span_: Span | NullSpan, exception: BaseException) -> None:
    """Mark ``span_`` failed by ``exception``: status ``error``, ``error_type`` and ``error_message``."""
    if isinstance(span_, Span):
        span_.status = "error"
        span_.error_type = type(exception).__name__
        message = str(exception)
        span_.fields["error_message"] = (
            message if len(message) <= MAX_ERROR_MESSAGE else message[: MAX_ERROR_MESSAGE - 1] + "…"
        )


def describe_request(web: Span | NullSpan, request: Any, handler: Callable[[Any], Any]) -> Any:
    """Run ``handler(request)`` with ``web`` (an open server span) describing it: route, status, error."""
    web.set("span_kind", "server")
    web.set("method", request.method)
    try:
        response = handler(request)
    except BaseException as exception:
        mark_failed(web, exception)
        raise
    finally:
        matched = getattr(request, "matched_route", None)
        if matched is not None:
            web.set("route", matched.name)
            web.set("route_pattern", matched.pattern)
        else:
            web.set("route", "")
    web.set("status_code", response.status_code)
    if response.status_code >= 500 and isinstance(web, Span):
        handled = getattr(request, "exception", None)
        if handled is not None:
            mark_failed(web, handled)
        else:
            web.status = "error"
    return response


def request_span_tween_factory(handler: Callable[[Any], Any], registry: Any) -> Callable[[Any], Any]:
    """Tween opening the root span ``request`` of every request (``span_kind=server``): method,
    route name and pattern, status code, duration; an exception marks it failed with its type and
    message.

    Without a request ID in the context (request tracking not included), the request's
    ``X-Request-ID`` / ``traceparent`` headers are adopted with ``kind="web"``. Under
    :class:`c2cwsgiutils.request_tracking.RequestTrackingMiddleware`, the middleware's span is
    described instead of opening a second one.
    """
    from c2cwsgiutils import propagation

    settings = config.cached(registry, SpansSettings.from_settings)
    sample = settings.request_sample if settings.request_sample < 1 else None

    def request_span_tween(request: Any) -> Any:
        outer = request.environ.get(WEB_SPAN_KEY)
        if outer is not None:
            return describe_request(outer, request, handler)
        token = None
        if not context.current().request_id:
            token = propagation.adopt_start(request.headers, kind="web")
        try:
            with root_span("request", sample) as root:
                if not root.recording:
                    return handler(request)
                return describe_request(root, request, handler)
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
