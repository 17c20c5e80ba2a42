"""The debug views that concern this process only: headers, sleep, time, error."""

from __future__ import annotations

import datetime
import math
import time
from typing import Any, NoReturn
from urllib.parse import urlencode

from c2cwsgiutils import auth, config

__all__ = ["DebugError", "error_view", "headers_view", "sleep_view", "time_view"]

_PROXY_ENVIRON = (
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "SERVER_NAME",
    "SERVER_PORT",
    "SCRIPT_NAME",
    "wsgi.url_scheme",
)


class DebugError(Exception):
    """The plain exception ``debug/error`` raises when no HTTP status is asked for."""


def _public_query(request: Any) -> list[tuple[str, str]]:
    return [(key, value) for key, value in request.GET.items() if key != auth.SECRET_PARAM]


def _public_cookie_header(raw: str) -> str:
    # Split by hand rather than parse: the other cookies are shown exactly as they were received.
    kept = [part.strip() for part in raw.split(";") if part.split("=", 1)[0].strip() != auth.SECRET_COOKIE]
    return "; ".join(part for part in kept if part)


def headers_view(request: Any) -> dict[str, Any]:
    """The request as received: method, URLs, headers, client address and the proxy-related environ.

    The admin secret is never echoed: the ``secret`` parameter, the ``X-API-Key`` header and the
    ``c2c-secret`` cookie are left out.
    """
    headers: dict[str, str] = {}
    for name, raw in request.headers.items():
        lowered = name.lower()
        if lowered == auth.SECRET_HEADER.lower():
            continue
        value = _public_cookie_header(raw) if lowered == "cookie" else raw
        if value:
            headers[name] = value
    query = _public_query(request)
    url = request.path_url + (f"?{urlencode(query)}" if query else "")
    environ = request.environ
    return {
        "method": request.method,
        "url": url,
        "path": request.path,
        "query": dict(query),
        "scheme": request.scheme,
        "host": request.host,
        "application_url": request.application_url,
        "client_addr": request.client_addr,
        "remote_addr": request.remote_addr,
        "http_version": environ.get("SERVER_PROTOCOL"),
        "headers": headers,
        "environ": {key: str(environ[key]) for key in _PROXY_ENVIRON if key in environ},
        "client_info": {  # 6.x's block: what the application sees once proxies are applied
            "client_addr": request.client_addr,
            "host": request.host_url.split("://", 1)[1].rsplit(":", 1)[0] if request.host else None,
            "host_port": request.host_port,
            "http_version": request.http_version,
            "path": request.path,
            "path_info": request.path_info,
            "remote_addr": request.remote_addr,
            "remote_host": request.remote_host,
            "scheme": request.scheme,
            "server_name": request.server_name,
            "server_port": request.server_port,
        },
    }


def sleep_view(request: Any) -> Any:
    """Sleep ``time`` seconds (0 to ``C2C_DEBUG_MAX_SLEEP``); answers 204 as 6.x did, with the time
    slept in ``Server-Timing: sleep;dur=<ms>``."""
    from pyramid.httpexceptions import HTTPBadRequest

    from c2cwsgiutils.debug import DebugSettings

    maximum = config.cached(request.registry, DebugSettings.from_settings).max_sleep
    raw = request.GET.get("time")
    try:
        duration = float(raw) if raw is not None else math.nan
    except ValueError:
        duration = math.nan
    if not 0 <= duration <= maximum:  # NaN and infinities fail this too
        raise HTTPBadRequest(f"time must be a number of seconds between 0 and {maximum:g}")
    from pyramid.httpexceptions import HTTPNoContent

    start = time.monotonic()
    time.sleep(duration)
    slept_ms = (time.monotonic() - start) * 1000
    return HTTPNoContent(headers={"Server-Timing": f"sleep;dur={slept_ms:.3f}"})


def time_view(request: Any) -> dict[str, Any]:
    """The server's clock: epoch seconds, UTC and local time (ISO 8601), local zone and offset."""
    epoch = time.time()
    utc = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    local = utc.astimezone()
    offset = local.utcoffset() or datetime.timedelta(0)
    return {
        "epoch": epoch,
        "utc": utc.isoformat(),
        "local": local.isoformat(),
        "timezone": local.tzname(),
        "utc_offset_seconds": int(offset.total_seconds()),
        # 6.x's fields: naive local and UTC times as Python prints them
        "local_time": str(local.replace(tzinfo=None)),
        "gmt_time": str(utc.replace(tzinfo=None)),
    }


def open_time_view(request: Any) -> dict[str, Any]:
    """:func:`time_view` without a secret (6.x), 404 while the debug views are off (no secret)."""
    from pyramid.httpexceptions import HTTPNotFound

    from c2cwsgiutils import auth
    from c2cwsgiutils.debug import DEBUG_VIEW_SECRET

    if not auth.is_configured(request.registry, DEBUG_VIEW_SECRET):
        raise HTTPNotFound()
    return time_view(request)


def error_view(request: Any) -> NoReturn:
    """Raise the HTTP error ``status`` (400-599), or a plain :class:`DebugError` (a 500) without it."""
    from pyramid.httpexceptions import HTTPBadRequest, exception_response

    raw = request.GET.get("status")
    if raw is None or raw == "":
        raise DebugError("Test error raised by debug/error")
    try:
        status = int(raw)
    except ValueError:
        status = 0
    if not 400 <= status <= 599:
        raise HTTPBadRequest("status must be an HTTP error status between 400 and 599")
    try:
        error = exception_response(status, detail="Test error raised by debug/error")
    except KeyError:  # a status Pyramid has no class for (e.g. 499)
        raise HTTPBadRequest(f"status {status} is not an HTTP error status Pyramid knows") from None
    raise error
