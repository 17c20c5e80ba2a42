"""WSGI filter that applies what proxies say about the client (6.x's ``egg:c2cwsgiutils#client_info``).

From ``Forwarded`` (RFC 7239, its first element), else ``X-Forwarded-Server``/``-Host``/``-For``/
``-Scheme``/``-Proto``: the server name, ``Host``, client address and URL scheme of the WSGI
environ are replaced, the original values kept as ``HTTP_ORIGINAL_<HEADER>``. Then
``C2CWSGIUTILS_FORCE_PROTO``/``_HOST``/``_SERVER_NAME``/``_REMOTE_ADDR`` override them. Only put
it behind a proxy that sets these headers: a client could send them too.

In a PasteDeploy pipeline::

    [pipeline:main]
    pipeline = egg:c2cwsgiutils#client_info app
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from c2cwsgiutils import config

__all__ = ["SEP_RE", "Filter", "filter_factory"]

LOG = logging.getLogger(__name__)
SEP_RE = re.compile(r", *")

_FORCED = {
    "wsgi.url_scheme": ("C2CWSGIUTILS_FORCE_PROTO", "URL scheme"),
    "HTTP_HOST": ("C2CWSGIUTILS_FORCE_HOST", "Host header"),
    "SERVER_NAME": ("C2CWSGIUTILS_FORCE_SERVER_NAME", "server name"),
    "REMOTE_ADDR": ("C2CWSGIUTILS_FORCE_REMOTE_ADDR", "client address"),
}
FORCE_SETTINGS = {
    key: config.declare(
        env,
        "",
        "",
        config.as_str,
        f"The {what} every request gets, whatever the proxies say (client_info filter).",
        feature="client_info",
    )
    for key, (env, what) in _FORCED.items()
}
_X_FORWARDED = (
    "X_FORWARDED_SERVER",
    "X_FORWARDED_HOST",
    "X_FORWARDED_FOR",
    "X_FORWARDED_SCHEME",
    "X_FORWARDED_PROTO",
)

Environ = MutableMapping[str, Any]


def _first(value: str) -> str:
    return value.split(",", maxsplit=1)[0].strip()


def _apply_forwarded(environ: Environ) -> None:
    environ["HTTP_ORIGINAL_FORWARDED"] = environ["HTTP_FORWARDED"]
    for header in _X_FORWARDED:  # Forwarded wins: the X- headers are only kept as originals
        if "HTTP_" + header in environ:
            environ["HTTP_ORIGINAL_" + header] = environ.pop("HTTP_" + header)
    element = SEP_RE.split(environ.pop("HTTP_FORWARDED"))[0]
    fields: dict[str, str] = {}
    for pair in element.split(";"):
        key, sep, value = pair.partition("=")
        if not sep:
            LOG.warning("Ignoring a part of the Forwarded header without '=': %s", pair[:100])
            continue
        fields[key.strip().lower()] = value.strip().strip('"')
    if "by" in fields:
        environ["SERVER_NAME"] = fields["by"]
    if "for" in fields:
        environ["REMOTE_ADDR"] = fields["for"]
    if "host" in fields:
        environ["HTTP_ORIGINAL_HOST"] = environ.get("HTTP_HOST", "")
        environ["HTTP_HOST"] = fields["host"]
    if "proto" in fields:
        environ["wsgi.url_scheme"] = fields["proto"]


def _apply_x_forwarded(environ: Environ) -> None:
    if "HTTP_X_FORWARDED_SERVER" in environ:
        environ["HTTP_ORIGINAL_X_FORWARDED_SERVER"] = environ["HTTP_X_FORWARDED_SERVER"]
        environ["SERVER_NAME"] = environ["HTTP_HOST"] = _first(environ.pop("HTTP_X_FORWARDED_SERVER"))
    if "HTTP_X_FORWARDED_HOST" in environ:
        environ["HTTP_ORIGINAL_X_FORWARDED_HOST"] = environ["HTTP_X_FORWARDED_HOST"]
        environ["HTTP_ORIGINAL_HOST"] = environ.get("HTTP_HOST", "")
        environ["HTTP_HOST"] = _first(environ.pop("HTTP_X_FORWARDED_HOST"))
    if "HTTP_X_FORWARDED_FOR" in environ:
        environ["HTTP_ORIGINAL_X_FORWARDED_FOR"] = environ["HTTP_X_FORWARDED_FOR"]
        environ["REMOTE_ADDR"] = _first(environ.pop("HTTP_X_FORWARDED_FOR"))
    for header in ("X_FORWARDED_SCHEME", "X_FORWARDED_PROTO"):  # the scheme header wins
        if "HTTP_" + header in environ:
            environ["HTTP_ORIGINAL_" + header] = environ["HTTP_" + header]
            environ["wsgi.url_scheme"] = _first(environ.pop("HTTP_" + header))
            break


class Filter:
    """The WSGI filter (see the module documentation); the overrides are read once, here."""

    def __init__(self, application: Callable[..., Iterable[bytes]]) -> None:
        self._application = application
        self._forced = {key: value for key, setting in FORCE_SETTINGS.items() if (value := setting.get(None))}

    def __call__(self, environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if "HTTP_FORWARDED" in environ:
            _apply_forwarded(environ)
        else:
            _apply_x_forwarded(environ)
        environ.update(self._forced)
        return self._application(environ, start_response)


def filter_factory(global_conf: Any = None, **local_conf: Any) -> Callable[..., Filter]:
    """PasteDeploy ``filter_factory``: ``egg:c2cwsgiutils#client_info``."""
    return Filter
