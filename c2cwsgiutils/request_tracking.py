"""Request tracking: every request gets a request ID and a W3C trace context, current while it runs.

Two entry points share one implementation:

- the Pyramid tween (``config.include("c2cwsgiutils.request_tracking")``, placed right under
  ``INGRESS`` so that everything below it, exception views included, runs inside the context);
- :class:`RequestTrackingMiddleware`, a plain WSGI middleware for other frameworks (Flask ...).

The request ID comes from the first present of ``C2C_REQUEST_ID_HEADER`` (when set),
``X-Request-ID``, ``X-Correlation-ID``, ``Request-ID``, ``X-Varnish`` and ``X-Amzn-Trace-Id``;
a value longer than 128 characters or outside letters, digits and ``-_.:/+=@`` is replaced by a
fresh ID and a warning that never prints it. It is echoed as ``X-Request-ID`` on the response,
available as ``request.c2c_request_id`` (Pyramid) and ``environ["c2c.request_id"]`` (both).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from c2cwsgiutils import config, outgoing, spans
from c2cwsgiutils._deprecated import init_alias
from c2cwsgiutils._spans_core import Span
from c2cwsgiutils.context import (
    Context,
    current,
    new_ids,
    new_request_id,
    new_span_id,
    new_trace_id,
    parse_traceparent,
    parse_tracestate,
    restore,
    start,
    with_route,
)

__all__ = [
    "DEFAULT_HEADERS",
    "ROUTE_PATTERN_KEY",
    "RequestTrackingMiddleware",
    "TrackingSettings",
    "includeme",
    "open_context",
    "request_tracking_tween_factory",
    "route_context_deriver",
    "warn_rejected",
]

LOG = logging.getLogger(__name__)

DEFAULT_HEADERS = ("X-Request-ID", "X-Correlation-ID", "Request-ID", "X-Varnish", "X-Amzn-Trace-Id")
RESPONSE_HEADER = "X-Request-ID"
ENVIRON_KEY = "c2c.request_id"
MAX_LENGTH = 128

_NORMALISED = frozenset(("HTTP_X_VARNISH", "HTTP_X_AMZN_TRACE_ID"))
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+\Z")
_is_safe = re.compile(r"[A-Za-z0-9_.:/+=@-]{1,128}\Z").match


def _header_name(raw: str) -> str:
    value = raw.strip()
    if value and not _HEADER_NAME.match(value):
        raise ValueError(raw)
    return value


REQUEST_ID_HEADER = config.declare(
    "C2C_REQUEST_ID_HEADER",
    "c2c.request_id_header",
    "",
    config.Converter(_header_name, "an HTTP header name", "header"),
    "Extra incoming header holding the request ID, looked at before X-Request-ID, X-Correlation-ID, "
    "Request-ID, X-Varnish and X-Amzn-Trace-Id.",
    feature="request_tracking",
)


def _environ_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


@dataclass(frozen=True)
class TrackingSettings:
    """The headers to look at, as ``(environ key, header name)`` pairs in priority order."""

    headers: tuple[tuple[str, str], ...]

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TrackingSettings:
        extra = REQUEST_ID_HEADER.get(settings)
        names = [extra] if extra else []
        names += [name for name in DEFAULT_HEADERS if name.lower() != extra.lower()]
        return cls(tuple((_environ_key(name), name) for name in names))


def _normalise(environ_key: str, value: str) -> str:
    # Caches and load balancers put more than an ID in these two: keep the ID part.
    if environ_key == "HTTP_X_VARNISH":
        return value.split(" ", 1)[0]
    if environ_key == "HTTP_X_AMZN_TRACE_ID":
        return value.split(";", 1)[0]
    return value


Rejected = tuple[str, int]
"""An unacceptable incoming request ID: the header's name and the value's length (never the value)."""


def open_context(
    environ: dict[str, Any], headers: tuple[tuple[str, str], ...]
) -> tuple[Context, Rejected | None]:
    """The context of a request described by a WSGI ``environ`` (its ID also goes in ``c2c.request_id``).

    Returns the context and, when the incoming ID was unacceptable and replaced, what to warn about
    once the context is current (see :func:`warn_rejected`).
    """
    request_id = ""
    rejected: Rejected | None = None
    for key, name in headers:
        value = environ.get(key)
        if value:
            if key in _NORMALISED:
                value = _normalise(key, value)
            if _is_safe(value) is not None:
                request_id = value
            else:
                rejected = (name, len(value))
            break
    traceparent = environ.get("HTTP_TRACEPARENT")
    parsed = parse_traceparent(traceparent) if traceparent else None
    if parsed is None:
        if request_id:
            trace_id, span_id = new_trace_id(), new_span_id()
        else:
            request_id, trace_id, span_id = new_ids()
        environ[ENVIRON_KEY] = request_id
        return Context(request_id, trace_id, span_id, "", True, "web"), rejected
    if not request_id:
        request_id = new_request_id()
    environ[ENVIRON_KEY] = request_id
    tracestate = environ.get("HTTP_TRACESTATE")
    ctx = Context(
        request_id,
        parsed[0],
        new_span_id(),
        parsed[1],
        parsed[2],
        "web",
        "",
        "",
        "",
        parse_tracestate(tracestate) if tracestate else "",
        parsed[3],
    )
    return ctx, rejected


def warn_rejected(rejected: Rejected, request_id: str) -> None:
    """Log that an incoming request ID was replaced, without its value (it may be a log injection)."""
    LOG.warning(
        "Ignored the incoming %s header (%d characters; more than %d or characters outside letters, "
        "digits and -_.:/+=@); using request ID %s instead",
        rejected[0],
        rejected[1],
        MAX_LENGTH,
        request_id,
    )


def request_tracking_tween_factory(handler: Callable[[Any], Any], registry: Any) -> Callable[[Any], Any]:
    """Pyramid tween factory: the request runs inside its correlation context."""
    headers = config.cached(registry, TrackingSettings.from_settings).headers

    def request_tracking_tween(request: Any) -> Any:
        environ = request.environ
        # Already tracked by RequestTrackingMiddleware around this application: keep its context.
        outer_id = environ.get(ENVIRON_KEY)
        if outer_id is not None and current().request_id == outer_id:
            request.c2c_request_id = outer_id
            return handler(request)
        ctx, rejected = open_context(environ, headers)
        # A plain attribute, not add_request_method(reify=True): that would make Pyramid build a
        # new request class on every request (~20 us).
        request.c2c_request_id = ctx.request_id
        token = start(ctx)
        try:
            if rejected is not None:
                warn_rejected(rejected, ctx.request_id)
            response = handler(request)
        finally:
            restore(token)
        # webob's response.headers[...] = ... costs several µs (it lower-cases every header twice).
        headerlist = response.headerlist
        for name, _value in headerlist:
            if name.lower() == "x-request-id":
                break
        else:
            headerlist.append((RESPONSE_HEADER, ctx.request_id))
        return response

    return request_tracking_tween


def route_context_deriver(view: Callable[[Any, Any], Any], info: Any) -> Callable[[Any, Any], Any]:
    """Pyramid view deriver: while a view runs, the context's ``route`` is the matched route's name."""
    del info

    def route_context_view(context: Any, request: Any) -> Any:
        route = request.matched_route
        ctx = current()
        if route is None or not ctx.request_id or ctx.route:
            return view(context, request)
        token = start(with_route(ctx, route.name))
        try:
            return view(context, request)
        finally:
            restore(token)

    return route_context_view


ROUTE_PATTERN_KEY = "c2c.route_pattern"
"""WSGI environ key where any application may put the matched route's pattern for the web span."""


def _flask_route(web: Span) -> None:
    # Flask's request context is only open while its wsgi_app runs: read the matched rule from
    # inside start_response (called in there), when Flask is already imported by the application.
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_request_context():
        return
    rule = flask.request.url_rule
    if rule is not None:
        web.fields["route"] = rule.endpoint
        web.fields["route_pattern"] = rule.rule


class RequestTrackingMiddleware:
    """Plain WSGI middleware doing what the Pyramid tween does, for any WSGI application::

        app = RequestTrackingMiddleware(flask_app.wsgi_app)

    ``settings`` is an optional mapping of ini keys (``c2c.request_id_header`` ...); environment
    variables apply as everywhere. With ``propagate`` (the default) outgoing calls made with
    requests, urllib3 and httpx carry the request's IDs (see :mod:`c2cwsgiutils.outgoing`). The
    context stays current while the response body is iterated.

    With ``record_spans`` (the default) each request is a web span ``request`` (``span_kind=server``,
    see :mod:`c2cwsgiutils.spans`): method, route (Flask's matched rule, or whatever the application
    put in ``environ["c2c.route_pattern"]``), status code, and the duration up to the end of the
    response body (its ``close()``); an exception, or a 5xx status, marks it failed.
    """

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        settings: Mapping[str, Any] | None = None,
        propagate: bool = True,
        record_spans: bool = True,
    ) -> None:
        self.app = app
        self._headers = TrackingSettings.from_settings(settings or {}).headers
        self._spans = record_spans
        if propagate:
            outgoing.install(settings)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        ctx, rejected = open_context(environ, self._headers)
        request_id = ctx.request_id
        token = start(ctx)
        try:
            web: Span | None = None
            if self._spans:
                opened = spans.root_span("request").__enter__()
                if isinstance(opened, Span):
                    web = opened
                    web.fields["span_kind"] = "server"
                    web.fields["method"] = environ.get("REQUEST_METHOD", "")
                    environ[spans.WEB_SPAN_KEY] = web
            span_ctx = current()

            def tracking_start_response(
                status: str, headers: list[tuple[str, str]], exc_info: Any = None
            ) -> Any:
                if web is not None:
                    _guarded(_describe_status, web, status)
                headers = [header for header in headers if header[0].lower() != "x-request-id"]
                headers.append((RESPONSE_HEADER, request_id))
                return start_response(status, headers, exc_info)

            if rejected is not None:
                warn_rejected(rejected, request_id)
            try:
                result = self.app(environ, tracking_start_response)
            except BaseException as exception:
                if web is not None:
                    spans.mark_failed(web, exception)
                    _end_span(web, span_ctx, environ)
                raise
            if web is not None:
                # The span stays open until the body is consumed, in _iterate_in_context.
                _detach(web)
        finally:
            restore(token)
        return _iterate_in_context(result, span_ctx, web, environ)


def _guarded(function: Callable[..., None], *args: Any) -> None:
    # Describing the span must never break the application's response.
    try:
        function(*args)
    except Exception:  # pragma: no cover - a bug of ours, logged once
        outgoing.internal_error("describing the web span")


def _describe_status(web: Span, status: str) -> None:
    code = int(status[:3])
    web.fields["status_code"] = code
    if "route_pattern" not in web.fields:
        _flask_route(web)
    if code >= 500:
        web.status = "error"


def _detach(web: Span) -> None:
    # The span's context token belongs to __call__'s flow; its end (and event) comes later.
    token = web._token
    if token is not None:
        restore(token)
        web._token = None


def _end_span(web: Span, span_ctx: Context, environ: dict[str, Any]) -> None:
    pattern = environ.get(ROUTE_PATTERN_KEY)
    if pattern and "route_pattern" not in web.fields:
        web.fields["route_pattern"] = str(pattern)
    web.fields.setdefault("route", "")
    if web._token is None:
        web._token = start(span_ctx)
    web.__exit__(None, None, None)


def _iterate_in_context(
    result: Iterable[bytes], ctx: Context, web: Span | None, environ: dict[str, Any]
) -> Iterator[bytes]:
    # The body of a streamed response is produced after __call__ returned: each chunk (and the
    # final close) runs inside the request's context again; the web span ends after close().
    try:
        token = start(ctx)
        try:
            iterator = iter(result)
        finally:
            restore(token)
        while True:
            token = start(ctx)
            try:
                chunk = next(iterator)
            except StopIteration:
                return
            except BaseException as exception:
                if web is not None:
                    spans.mark_failed(web, exception)
                raise
            finally:
                restore(token)
            yield chunk
    finally:
        try:
            close = getattr(result, "close", None)
            if close is not None:
                token = start(ctx)
                try:
                    close()
                finally:
                    restore(token)
        finally:
            if web is not None:
                _end_span(web, ctx, environ)


def includeme(config_: Any) -> None:
    """Pyramid include: the tween (right under ``INGRESS``), the view deriver putting the route
    name in the context, and outgoing propagation."""
    from pyramid.tweens import INGRESS

    config.cached(config_.registry, TrackingSettings.from_settings)  # invalid settings fail here
    config_.add_tween("c2cwsgiutils.request_tracking.request_tracking_tween_factory", under=INGRESS)
    config_.add_view_deriver(route_context_deriver, "c2c_route_context")
    outgoing.install(config_.get_settings())


init = init_alias(__name__)  # 6.x's set-up function, deprecated: config.include(this module)
