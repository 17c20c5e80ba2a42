"""Outgoing HTTP propagation: calls made inside a request carry its IDs, and get a default timeout.

:func:`install` patches, for each library that is installed:

- ``requests`` (``Session.send`` for the span, ``HTTPAdapter.send``): ``X-Request-ID``,
  ``traceparent`` (a new span, child of the current one), ``tracestate``; and
  ``C2C_REQUESTS_DEFAULT_TIMEOUT`` when the caller gave no timeout;
- ``urllib3`` (``HTTPConnectionPool.urlopen``): the same headers, and the default timeout when
  neither the call nor the pool has one;
- ``httpx`` (``Client.send`` / ``AsyncClient.send``): the same headers (httpx has its own default
  timeout of 5 seconds).

Inside a request or task each call is a client span ``http client`` (see :mod:`c2cwsgiutils.spans`;
``span_kind=client``, ``method``, ``url`` with the values of secret query parameters replaced by
``***``, ``status_code``, its duration; a 4xx/5xx status or an exception marks it failed, as
OpenTelemetry does): its span id is the parent id sent in ``traceparent``, so the callee's spans hang
under it. With span events off, ``traceparent`` names a fresh span id, child of the current span.
A redirect followed by requests or urllib3, and urllib3 under requests, stay inside the one span;
for requests the span covers reading the body too (unless ``stream=True``).

Headers the caller set are left alone. Outside a request (no current context) nothing is added.
Our hooks run inside one guard (:mod:`c2cwsgiutils._guard`): an error of ours is logged (once per
place and ten minutes) and the caller's call goes on.
``install`` is idempotent: calling it again only updates the timeout.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from c2cwsgiutils import _guard, config, spans
from c2cwsgiutils._spans_core import Span
from c2cwsgiutils.context import child_traceparent, current, restore
from c2cwsgiutils.redaction import redact_url

__all__ = [
    "CLIENT_SPAN",
    "TIMEOUT",
    "install",
    "installed",
    "internal_error",
    "outgoing_headers",
    "uninstall",
]

CLIENT_SPAN = "http client"
"""The name of the span of an outgoing HTTP call."""

LOG = logging.getLogger(__name__)

TIMEOUT = config.declare(
    "C2C_REQUESTS_DEFAULT_TIMEOUT",
    "c2c.requests_default_timeout",
    30.0,
    config.bounded(config.as_float, 0),
    "Seconds of timeout given to outgoing requests/urllib3 calls that set none (0: no default timeout).",
    feature="request_tracking",
)

_timeout: float | None = None
_originals: dict[str, tuple[Any, str, Callable[..., Any]]] = {}
_lock = threading.Lock()


def outgoing_headers() -> dict[str, str]:
    """The headers an outgoing call made now should carry ({} outside a request or task)."""
    ctx = current()
    if not ctx.request_id and not ctx.trace_id:
        return {}
    headers = {"traceparent": child_traceparent(ctx)}
    if ctx.request_id:
        headers["X-Request-ID"] = ctx.request_id
    if ctx.tracestate:
        headers["tracestate"] = ctx.tracestate
    return headers


def internal_error(where: str) -> None:
    """Log the exception being handled, a bug of ours while ``where`` (see :mod:`c2cwsgiutils._guard`:
    the first of each place, then at most one per ten minutes)."""
    _guard.internal_error(where, LOG)


def _span_headers(ctx: Any) -> dict[str, str]:
    """The headers naming ``ctx``'s own span (a client span) as the callee's parent."""
    headers = {"traceparent": ctx.traceparent}
    if ctx.request_id:
        headers["X-Request-ID"] = ctx.request_id
    if ctx.tracestate:
        headers["tracestate"] = ctx.tracestate
    return headers


def _start_call(method: str, url: str) -> tuple[Span | None, dict[str, str]]:
    """The client span of a call (``None`` when not recorded) and the headers it should carry."""
    client: Any = None
    try:
        ctx = current()
        if not ctx.request_id and not ctx.trace_id:
            return None, {}
        if ctx.span_path == CLIENT_SPAN:
            # requests' adapter under Session.send, or a redirect: already inside the call's span.
            return None, _span_headers(ctx)
        client = spans.span(CLIENT_SPAN)
        if not isinstance(client, Span):
            return None, outgoing_headers()
        # Everything that could fail happens before the span becomes the current context.
        client.fields.update(span_kind="client", method=method, url=redact_url(url))
        client.__enter__()  # not sampled (no sample rate given): always the span itself
        return client, _span_headers(current())
    except Exception:
        internal_error("opening an HTTP client span")
        token = getattr(client, "_token", None)
        if token is not None:  # entered: the caller's context must be current again
            client._token = None
            restore(token)
        return None, {}


def _end_call(client: Span, status_code: Any, exception: BaseException | None) -> None:
    try:
        if exception is not None:
            spans.mark_failed(client, exception)
        elif status_code is not None:
            client.fields["status_code"] = status_code
            if status_code >= 400:
                client.status = "error"
        client.__exit__(None, None, None)
    except Exception:
        internal_error("closing an HTTP client span")


def _add_missing(headers: MutableMapping[str, str], extra: dict[str, str]) -> None:
    # Case-insensitive mappings (requests, urllib3, httpx) answer `in` themselves; a plain dict
    # needs the lower-cased scan.
    present = {key.lower() for key in headers}
    for key, value in extra.items():
        if key.lower() not in present:
            headers[key] = value


def _patch(owner: Any, attribute: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    key = f"{owner.__module__}.{owner.__qualname__}.{attribute}"
    if key in _originals:
        return
    original = getattr(owner, attribute)
    _originals[key] = (owner, attribute, original)
    setattr(owner, attribute, make(original))


def _timed(client: Any, status_attribute: str, call: Callable[[], Any]) -> Any:
    """``call()``, inside the client span ``client`` (when there is one), which ends with the
    response's status (its ``status_attribute``) or the exception."""
    if client is None:
        return call()
    try:
        response = call()
    except BaseException as exception:
        _end_call(client, None, exception)
        raise
    _end_call(client, getattr(response, status_attribute, None), None)
    return response


def _patch_requests() -> None:
    try:
        from requests import Session
        from requests.adapters import HTTPAdapter
    except ImportError:
        return

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            client = None
            try:
                client, extra = _start_call(request.method or "", request.url or "")
                if extra:
                    _add_missing(request.headers, extra)
                if _timeout is not None and not args and kwargs.get("timeout") is None:
                    kwargs["timeout"] = _timeout
            except Exception:
                internal_error("preparing a requests call")
            return _timed(client, "status_code", lambda: original(self, request, *args, **kwargs))

        return send

    def make_session(original: Callable[..., Any]) -> Callable[..., Any]:
        # The span is opened here rather than in the adapter: Session.send also reads the body
        # (unless stream=True), which belongs to the call's duration.
        def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            client = None
            try:
                client, extra = _start_call(request.method or "", request.url or "")
                if client is not None:
                    _add_missing(request.headers, extra)
            except Exception:
                internal_error("preparing a requests session call")
            if client is None:
                return original(self, request, *args, **kwargs)
            return _timed(client, "status_code", lambda: original(self, request, *args, **kwargs))

        return send

    _patch(HTTPAdapter, "send", make)
    _patch(Session, "send", make_session)


def _pool_has_no_timeout(pool: Any) -> bool:
    from urllib3.util.timeout import _DEFAULT_TIMEOUT

    timeout = pool.timeout
    if not hasattr(timeout, "total"):  # a number given to the pool
        return timeout is None or timeout is _DEFAULT_TIMEOUT
    return (
        timeout.total is None
        and getattr(timeout, "_connect", None) is _DEFAULT_TIMEOUT
        and getattr(timeout, "_read", None) is _DEFAULT_TIMEOUT
    )


def _patch_urllib3() -> None:
    try:
        from urllib3.connectionpool import HTTPConnectionPool
        from urllib3.util.timeout import _DEFAULT_TIMEOUT
    except ImportError:
        return

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def urlopen(
            self: Any, method: str, url: str, body: Any = None, headers: Any = None, *args: Any, **kwargs: Any
        ) -> Any:
            client = None
            try:
                client, extra = (
                    _start_call(
                        method, url if url[:1] != "/" else f"{self.scheme}://{self.host}:{self.port}{url}"
                    )
                    if current().span_path != CLIENT_SPAN
                    else (None, {})
                )
                if extra:
                    # Never modify the pool's (shared) or the caller's mapping.
                    with_ours = dict(self.headers if headers is None else headers)
                    _add_missing(with_ours, extra)
                    headers = with_ours
                if (
                    _timeout is not None
                    and len(args) < 4
                    and kwargs.get("timeout", _DEFAULT_TIMEOUT) is _DEFAULT_TIMEOUT
                    and _pool_has_no_timeout(self)
                ):
                    kwargs["timeout"] = _timeout
            except Exception:
                internal_error("preparing a urllib3 call")
            return _timed(
                client, "status", lambda: original(self, method, url, body, headers, *args, **kwargs)
            )

        return urlopen

    _patch(HTTPConnectionPool, "urlopen", make)


def _patch_httpx() -> None:
    try:
        import httpx
    except ImportError:
        return

    def make_sync(original: Callable[..., Any]) -> Callable[..., Any]:
        def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            client = None
            try:
                client, extra = _start_call(request.method, str(request.url))
                if extra:
                    _add_missing(request.headers, extra)
            except Exception:
                internal_error("preparing an httpx call")
            return _timed(client, "status_code", lambda: original(self, request, *args, **kwargs))

        return send

    def make_async(original: Callable[..., Any]) -> Callable[..., Any]:
        async def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            client = None
            try:
                client, extra = _start_call(request.method, str(request.url))
                if extra:
                    _add_missing(request.headers, extra)
            except Exception:
                internal_error("preparing an httpx call")
            if client is None:
                return await original(self, request, *args, **kwargs)
            try:
                response = await original(self, request, *args, **kwargs)
            except BaseException as exception:
                _end_call(client, None, exception)
                raise
            _end_call(client, getattr(response, "status_code", None), None)
            return response

        return send

    _patch(httpx.Client, "send", make_sync)
    _patch(httpx.AsyncClient, "send", make_async)


def install(settings: Mapping[str, Any] | None = None) -> None:
    """Patch requests, urllib3 and httpx (those installed); idempotent, updates the default timeout."""
    global _timeout
    seconds = TIMEOUT.get(settings)
    with _lock:
        _timeout = seconds if seconds > 0 else None
        _patch_requests()
        _patch_urllib3()
        _patch_httpx()


def installed() -> bool:
    """Whether :func:`install` patched at least one library."""
    return bool(_originals)


def uninstall() -> None:
    """Undo :func:`install` (for tests)."""
    global _timeout
    with _lock:
        for owner, attribute, original in _originals.values():
            setattr(owner, attribute, original)
        _originals.clear()
        _timeout = None
