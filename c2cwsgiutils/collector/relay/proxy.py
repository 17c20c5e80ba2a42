"""The read API of a relay collector: each query goes to the upstream collector.

A relay (``c2cwsgiutils-logs serve --forward URL``) stores nothing, yet a person on its host wants
its web UI and its ``/api/v1`` queries. After the relay's own ``reader`` check, :class:`Upstream`
sends the same method, path and query string to the upstream collector with the relay's
forwarding token (``C2C_COLLECTOR_FORWARD_TOKEN``, which then needs the ``reader`` role upstream
as well as ``writer``) and answers what came back: the body, its type and the API's headers
(``X-Record-Count``, ``X-Record-Group``, the stream's ``Cache-Control``). Server-Sent Events are
passed through chunk by chunk, ``Last-Event-ID`` included, so a reconnecting browser resumes
through the relay exactly as it would upstream.

Upstream answers 4xx as the API defines them (a query syntax error keeps its position), except
401 and 403: those say the *relay's* token is refused, so the caller gets a 502 that says so.
An unreachable upstream is a JSON 502 (``upstream_unreachable``), a slow one a 504
(``upstream_timeout``), an upstream 5xx or non-JSON error a 502 (``upstream_error``): never a 500.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
from collections.abc import Iterator
from typing import Any

from c2cwsgiutils.collector.client import Endpoint

__all__ = ["ANSWERED_HEADERS", "Upstream", "UpstreamError"]

LOG = logging.getLogger(__name__)

ANSWERED_HEADERS = ("Content-Type", "X-Record-Count", "X-Record-Group", "Cache-Control", "Retry-After")
_PASSED_HEADERS = ("Accept", "Last-Event-ID")
_QUERY_TIMEOUT = 30.0  # a count or a status on a large table takes seconds
_STREAM_TIMEOUT = 60.0  # the upstream sends a heartbeat every 15 s
_CONNECT_TIMEOUT = 5.0
_CHUNK = 65536


class UpstreamError(Exception):
    """The upstream could not answer: ``status`` 502 or 504, ``error_type`` and a message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


class Upstream:
    """Sends read requests to the upstream collector at ``url`` with ``token``."""

    def __init__(self, url: str, token: str = "") -> None:
        # One connection per relayed query (Pyramid's threads call this at once), through the
        # collector API's one client (c2cwsgiutils.collector.client).
        self._endpoint = Endpoint(url)  # ValueError for a URL that is not http(s)://host...
        # Said in error messages: without any user:password@ of the configured URL.
        self.url = self._endpoint.url
        self._prefix = self._endpoint.prefix
        self._authorization = self._endpoint.authorization(token)

    def request(self, method: str, path: str, query: str, headers: Any) -> Any:
        """The Pyramid response to ``method path?query`` asked of the upstream.

        ``path`` is already quoted; ``headers`` are the caller's (only ``Accept`` and
        ``Last-Event-ID`` go upstream). Raises :class:`UpstreamError` when the upstream cannot answer.
        """
        from pyramid.response import Response

        target = self._prefix + path + (f"?{query}" if query else "")
        sent = {name: headers[name] for name in _PASSED_HEADERS if headers.get(name)}
        if self._authorization:
            sent["Authorization"] = self._authorization
        connection = self._endpoint.connect(_CONNECT_TIMEOUT)
        streaming = False
        try:
            try:
                connection.connect()
                stream = path.endswith("/stream")
                connection.sock.settimeout(_STREAM_TIMEOUT if stream else _QUERY_TIMEOUT)
                connection.request(method, target, headers=sent)
                answer = connection.getresponse()
                streaming = stream and answer.status == 200 and method == "GET"
                body = b"" if streaming else answer.read()
            except TimeoutError:
                raise UpstreamError(
                    504, "upstream_timeout", f"the upstream collector {self.url} did not answer in time"
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                reason = getattr(exc, "strerror", None) or type(exc).__name__
                raise UpstreamError(
                    502, "upstream_unreachable", f"cannot reach the upstream collector {self.url}: {reason}"
                ) from None
            self._check(answer.status, answer.getheader("Content-Type") or "", body, method)
            response = Response(status=answer.status)
            for name in ANSWERED_HEADERS:
                value = answer.getheader(name)
                if value is not None:
                    response.headers[name] = value
            if streaming:
                response.headers["X-Accel-Buffering"] = "no"
                response.app_iter = _chunks(connection, answer)
            elif method != "HEAD":
                response.body = body
            return response
        finally:
            if not streaming:
                connection.close()

    def _check(self, status: int, content_type: str, body: bytes, method: str) -> None:
        """Raise :class:`UpstreamError` for an answer that must not reach the caller as it is."""
        if status in (401, 403):
            raise UpstreamError(
                502,
                "upstream_refused",
                f"the upstream collector {self.url} refused the relay's credentials ({status}): give "
                "C2C_COLLECTOR_FORWARD_TOKEN the reader role there",
            )
        if status < 500 and (method == "HEAD" or status < 400 or content_type.startswith("application/json")):
            return
        message = ""
        with contextlib.suppress(ValueError, AttributeError):
            message = str(json.loads(body).get("message", ""))[:300]
        raise UpstreamError(
            502,
            "upstream_error",
            f"the upstream collector {self.url} answered {status}" + (f": {message}" if message else ""),
        )


def _chunks(connection: http.client.HTTPConnection, answer: http.client.HTTPResponse) -> Iterator[bytes]:
    """The upstream event stream as it comes; ends (and the client reconnects) if the upstream goes."""
    try:
        while True:
            chunk = answer.read1(_CHUNK)
            if not chunk:
                return
            yield chunk
    except (TimeoutError, OSError, http.client.HTTPException):
        LOG.info("The upstream collector's event stream broke off; the client will reconnect")
    finally:
        connection.close()
