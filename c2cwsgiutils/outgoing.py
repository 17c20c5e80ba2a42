"""Outgoing HTTP propagation: calls made inside a request carry its IDs, and get a default timeout.

:func:`install` patches, for each library that is installed:

- ``requests`` (``HTTPAdapter.send``): ``X-Request-ID``, ``traceparent`` (a new span, child of the
  current one), ``tracestate``; and ``C2C_REQUESTS_DEFAULT_TIMEOUT`` when the caller gave no timeout;
- ``urllib3`` (``HTTPConnectionPool.urlopen``): the same headers, and the default timeout when
  neither the call nor the pool has one;
- ``httpx`` (``Client.send`` / ``AsyncClient.send``): the same headers (httpx has its own default
  timeout of 5 seconds).

Headers the caller set are left alone. Outside a request (no current context) nothing is added.
``install`` is idempotent: calling it again only updates the timeout.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from c2cwsgiutils import config
from c2cwsgiutils.context import _CURRENT, child_traceparent

__all__ = ["TIMEOUT", "install", "installed", "outgoing_headers", "uninstall"]

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
    ctx = _CURRENT.get()
    if not ctx.request_id and not ctx.trace_id:
        return {}
    headers = {"traceparent": child_traceparent(ctx)}
    if ctx.request_id:
        headers["X-Request-ID"] = ctx.request_id
    if ctx.tracestate:
        headers["tracestate"] = ctx.tracestate
    return headers


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


def _patch_requests() -> None:
    try:
        from requests.adapters import HTTPAdapter
    except ImportError:
        return

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            extra = outgoing_headers()
            if extra:
                _add_missing(request.headers, extra)
            if _timeout is not None and not args and kwargs.get("timeout") is None:
                kwargs["timeout"] = _timeout
            return original(self, request, *args, **kwargs)

        return send

    _patch(HTTPAdapter, "send", make)


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
            extra = outgoing_headers()
            if extra:
                # Never modify the pool's (shared) or the caller's mapping.
                headers = dict(self.headers if headers is None else headers)
                _add_missing(headers, extra)
            if (
                _timeout is not None
                and len(args) < 4
                and kwargs.get("timeout", _DEFAULT_TIMEOUT) is _DEFAULT_TIMEOUT
                and _pool_has_no_timeout(self)
            ):
                kwargs["timeout"] = _timeout
            return original(self, method, url, body, headers, *args, **kwargs)

        return urlopen

    _patch(HTTPConnectionPool, "urlopen", make)


def _patch_httpx() -> None:
    try:
        import httpx
    except ImportError:
        return

    def make_sync(original: Callable[..., Any]) -> Callable[..., Any]:
        def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            extra = outgoing_headers()
            if extra:
                _add_missing(request.headers, extra)
            return original(self, request, *args, **kwargs)

        return send

    def make_async(original: Callable[..., Any]) -> Callable[..., Any]:
        async def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            extra = outgoing_headers()
            if extra:
                _add_missing(request.headers, extra)
            return await original(self, request, *args, **kwargs)

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
