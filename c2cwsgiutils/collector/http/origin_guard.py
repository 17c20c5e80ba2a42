"""Browsers cannot drive the collector from another site (issue #18).

- DNS rebinding: a collector without credentials (which ``serve`` only allows on a loopback
  address) answers only requests whose ``Host`` is a loopback name (``localhost``, ``127.0.0.1``,
  ``[::1]``, any port); a page of ``evil.example`` whose name now resolves to 127.0.0.1 sends
  ``Host: evil.example`` and gets a 421.
- Cross-origin writes: a page of another origin can POST a form (no CORS preflight for
  ``application/x-www-form-urlencoded``); a write whose ``Origin`` is not the collector's own, or
  that the browser marks ``Sec-Fetch-Site: cross-site``, is refused with a 403, credentials or not.
  Clients that are not browsers (``HTTPHandler``, the shipping handler, curl) send neither header.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from c2cwsgiutils.collector.http.auth import LOOPBACK_HOSTS

__all__ = ["OriginGuard"]

_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))


def _hostname(host: str) -> str:
    """``host`` (a Host header, ``name:port`` or ``[v6]:port``) without its port, lower-cased."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class OriginGuard:
    """WSGI middleware applying the two rules of the module."""

    def __init__(self, app: Any, loopback_only: bool) -> None:
        self.app = app
        self.registry = getattr(app, "registry", None)
        self._loopback_only = loopback_only

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST", "")
        if self._loopback_only and host and _hostname(host) not in LOOPBACK_HOSTS:
            return _refuse(
                start_response,
                421,
                "misdirected_request",
                f"Host {host[:100]!r} is not this collector: without credentials it only answers "
                "localhost names (set C2C_COLLECTOR_TOKENS to serve other names)",
            )
        if environ.get("REQUEST_METHOD") not in _SAFE_METHODS:
            origin = environ.get("HTTP_ORIGIN")
            cross_site = environ.get("HTTP_SEC_FETCH_SITE", "").lower() == "cross-site"
            if cross_site or (
                origin is not None and urllib.parse.urlsplit(origin).netloc.lower() != host.lower()
            ):
                return _refuse(
                    start_response,
                    403,
                    "cross_origin",
                    f"a write from another origin ({(origin or 'cross-site')[:100]}) is refused",
                )
        return self.app(environ, start_response)  # type: ignore[no-any-return]


def _refuse(start_response: Callable[..., Any], status: int, error_type: str, message: str) -> list[bytes]:
    from c2cwsgiutils.collector.http.api import error_answer, json_bytes

    answer, _ = error_answer(status, error_type, message)
    body = json_bytes(answer)
    reason = "Misdirected Request" if status == 421 else "Forbidden"
    start_response(
        f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
