"""``POST /api/v1/record`` without Pyramid's router and tweens: the collector's hot path.

:class:`FastIngest` wraps the collector's Pyramid application. It answers ``POST /api/v1/record``
itself, with the same code as the Pyramid view (:func:`api.ingest_answer`: auth, limits,
idempotency, per-line errors, 207, 413) and the same answer bytes and headers, including the
``X-Request-ID`` of request tracking; every other request goes to Pyramid. What it skips per
request is the router, the request object, the tweens (a few hundred µs on a small machine) and
so the per-route stats, ``Server-Timing`` and the ``request`` span event that those would add for
this one route. ``C2C_COLLECTOR_FAST_INGEST=false`` turns it off.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from webob.util import status_reasons

from c2cwsgiutils.collector.http.api import error_for, ingest_answer, json_bytes, shape_of
from c2cwsgiutils.collector.http.app_state import CollectorState
from c2cwsgiutils.context import current, restore, start, with_route
from c2cwsgiutils.request_tracking import (
    ENVIRON_KEY,
    RESPONSE_HEADER,
    TrackingSettings,
    open_context,
    warn_rejected,
)

__all__ = ["RECORD_PATH", "FastIngest"]

RECORD_PATH = "/api/v1/record"
ROUTE_NAME = "c2c_collector_record"  # the route of the Pyramid view, for the log context

_STATUS_LINES = {code: f"{code} {reason}" for code, reason in status_reasons.items()}


def _shape(environ: dict[str, Any], state: CollectorState) -> str:
    """The record shape of the answer: ``shape=`` of the query string, else the setting."""
    query = environ.get("QUERY_STRING")
    params = urllib.parse.parse_qs(query) if query and "shape=" in query else {}
    return shape_of({"shape": params["shape"][-1]} if "shape" in params else {}, state)


def _content_length(environ: dict[str, Any]) -> int | None:
    # As WebOb reads it: a missing or unparsable Content-Length is "unknown".
    raw = environ.get("CONTENT_LENGTH")
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


class FastIngest:
    """WSGI middleware: ``POST /api/v1/record`` answered directly, the rest by ``app``."""

    def __init__(self, app: Any, state: CollectorState, settings: Any) -> None:
        self.app = app
        self.registry = app.registry  # what tests and tools reach through a Pyramid Router
        self._state = state
        self._tracking_headers = TrackingSettings.from_settings(settings).headers

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != RECORD_PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        # Request tracking, as its tween does (an outer RequestTrackingMiddleware already did it).
        outer_id = environ.get(ENVIRON_KEY)
        if outer_id is not None and current().request_id == outer_id:
            ctx, rejected = current(), None
        else:
            ctx, rejected = open_context(environ, self._tracking_headers)
        token = start(with_route(ctx, ROUTE_NAME))
        try:
            if rejected is not None:
                warn_rejected(rejected, ctx.request_id)
            status, body, extra = self._answer(environ)
        finally:
            restore(token)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        headers.extend(extra.items())
        headers.append((RESPONSE_HEADER, ctx.request_id))
        start_response(_STATUS_LINES[status], headers)
        return [body]

    def _answer(self, environ: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
        state = self._state
        try:
            principal = state.authenticator.require_caller(
                environ.get("HTTP_X_API_KEY"),
                environ.get("HTTP_AUTHORIZATION"),
                "writer",
                environ.get("REMOTE_ADDR", ""),
            )
            shape = _shape(environ, state)
            status, answer = ingest_answer(
                state,
                environ.get("CONTENT_TYPE", "").split(";", 1)[0].lower(),
                environ.get("HTTP_CONTENT_ENCODING", ""),
                _content_length(environ),
                environ["wsgi.input"],
                writer="" if principal is None else principal.name,
                shape=shape,
            )
            return status, json_bytes(answer), {}
        except Exception as exc:
            query = environ.get("QUERY_STRING")
            path_qs = RECORD_PATH + ("?" + query if query else "")
            status, error, headers = error_for(exc, "POST", path_qs)
            return status, json_bytes(error), headers
