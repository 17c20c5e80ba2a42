"""Secrets out of logged URLs: the values of secret-looking query parameters become ``***``.

An admin secret may come as ``?secret=...`` (see :mod:`c2cwsgiutils.auth`), and gunicorn's access
log line, which ``c2cwsgiutils_run`` sends through the application's handlers (JSON, CEE, the
collector), holds the whole request line: any collector reader could read the secret (issue #18).
:func:`redact_query` and :func:`redact_url` are used wherever a URL or a query string is logged.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["REDACTED", "SECRET_HEADERS", "redact_query", "redact_url"]

REDACTED: Final = "***"
# Query parameter names whose value is never logged (case-insensitive; "api_key", "apiKey" ...).
_NAMES_HIDDEN: Final = (
    r"(?:[\w.-]*?(?:secret|token|passw(?:or)?d|pwd|api[_-]?key|apikey|auth|signature|credential|session)"
    r"[\w.-]*|key|sig)"
)
_SECRET_PARAM: Final = re.compile(
    rf"(?P<name>(?:^|(?<=[?&;])){_NAMES_HIDDEN}(?:%5B%5D|\[\])?=)(?P<value>[^&;#\s\"]*)", re.I
)
# Request headers that carry credentials (gunicorn's "{name}i" access-log atoms).
SECRET_HEADERS: Final = frozenset(("authorization", "x-api-key", "cookie", "proxy-authorization"))


def redact_query(query: str) -> str:
    """``query`` (a query string, ``a=1&secret=x``) with the values of secret parameters as ``***``."""
    if "=" not in query:
        return query
    return _SECRET_PARAM.sub(lambda match: match["name"] + REDACTED if match["value"] else match[0], query)


def redact_url(url: str) -> str:
    """``url`` (or a request target, ``/path?query``) with the values of secret parameters as ``***``."""
    path, separator, query = url.partition("?")
    if not separator:
        return url
    return path + separator + redact_query(query)
