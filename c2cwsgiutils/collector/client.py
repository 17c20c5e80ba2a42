"""The one HTTP client of the collector API (standard library only): CLI, relay, shipping handler.

:class:`Endpoint` parses a collector's base URL once (``http(s)://[user:password@]host[:port]
[/prefix]``, IPv6 literals in brackets): where to connect (TLS with the default context, so
certificates are verified), the path prefix, the URL to name in messages (never the password)
and the credentials: a token is sent as ``Authorization: Bearer``, else a ``user:password@`` of
the URL as HTTP Basic. :class:`KeepAlive` holds one keep-alive connection to it, reopened when it
breaks: a connection the server closed while idle is retried once on a fresh one (a fresh one
that fails is not: the error is real). Its users:

- :class:`CollectorClient` (``c2cwsgiutils-logs``) raises :class:`ClientError` with a sentence;
- :class:`c2cwsgiutils.logging.collector_transport.Transport` (the ``CollectorHandler``'s sender
  thread) classifies the answers and never raises;
- :class:`c2cwsgiutils.collector.relay.proxy.Upstream` (a relay's read API) opens one connection
  per relayed query with :meth:`Endpoint.connect`, since Pyramid's threads call it at once.

The CLI's base URL and token default to ``C2C_COLLECTOR_URL`` and ``C2C_COLLECTOR_TOKEN``, the
settings the :class:`~c2cwsgiutils.logging.collector_handler.CollectorHandler` ships with.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import json
import select
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ClientError", "CollectorClient", "Endpoint", "KeepAlive", "ServerEvent", "parse_events"]

DEFAULT_URL = "http://127.0.0.1:8090"


_POLL = 0.02  # seconds between two calls of ``while_waiting``
# What a server's close of an idle keep-alive connection looks like to the next request.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class Endpoint:
    """A collector's base URL, parsed once; raises ValueError for anything but http(s)://host."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"collector URL must be http(s)://host[:port][/prefix] (got {url!r})")
        self.scheme = parsed.scheme
        self.host = parsed.hostname
        self.port = parsed.port
        self.prefix = parsed.path.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.netloc = host if self.port is None else f"{host}:{self.port}"
        self.url = f"{self.scheme}://{self.netloc}{self.prefix}"  # for messages: no credentials
        self.basic: str | None = None
        if parsed.username is not None:
            pair = f"{urllib.parse.unquote(parsed.username)}:{urllib.parse.unquote(parsed.password or '')}"
            self.basic = "Basic " + base64.b64encode(pair.encode()).decode()

    def authorization(self, token: str | None) -> str | None:
        """The ``Authorization`` header: the token as Bearer, else the URL's user as Basic."""
        return f"Bearer {token}" if token else self.basic

    def connect(self, timeout: float) -> http.client.HTTPConnection:
        """A new (not yet connected) connection; TLS verifies the certificate."""
        if self.scheme == "https":
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


class KeepAlive:
    """One keep-alive connection to an :class:`Endpoint` (not thread-safe: one user at a time)."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = self.endpoint.connect(timeout)
        else:
            self._conn.timeout = timeout
            if self._conn.sock is not None:
                self._conn.sock.settimeout(timeout)
        return self._conn

    def _once(
        self,
        method: str,
        target: str,
        body: bytes | None,
        headers: Mapping[str, str],
        *,
        timeout: float,
        while_waiting: Callable[[], None] | None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = self._connection(timeout)
        conn.request(method, target, body=body, headers=dict(headers))
        if while_waiting is not None and conn.sock is not None:
            # A slow collector must not stall the caller: it gets on with other work (the
            # shipping handler's sender spools the records piling up) until the answer comes.
            deadline = time.monotonic() + timeout
            while not select.select([conn.sock], [], [], _POLL)[0]:
                if time.monotonic() >= deadline:
                    raise TimeoutError("timed out waiting for the collector's answer")
                while_waiting()
        response = conn.getresponse()
        payload = response.read()
        if response.will_close:
            self.close()
        return response.status, response.headers, payload

    def exchange(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,
        while_waiting: Callable[[], None] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """(status, headers, body) of one request of ``target`` (the path with its query).

        ``while_waiting`` is called every few milliseconds until the answer starts to arrive.
        Raises OSError (TimeoutError included) or http.client.HTTPException, the connection closed.
        """
        wait = self.timeout if timeout is None else timeout
        sent = headers or {}
        reused = self._conn is not None
        try:
            try:
                return self._once(method, target, body, sent, timeout=wait, while_waiting=while_waiting)
            except _STALE:
                if not reused:
                    raise
                # The server closed the idle keep-alive connection: once more on a fresh one (the
                # collector's writes are idempotent by their records' keys, its reads harmless).
                self.close()
                return self._once(method, target, body, sent, timeout=wait, while_waiting=while_waiting)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None


class ClientError(Exception):
    """The collector refused a call or could not be reached; the message says why."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ServerEvent:
    """One Server-Sent Event."""

    id: str | None
    event: str
    data: str


class CollectorClient:
    """Calls to one collector; one keep-alive connection, reopened when it breaks."""

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 30.0) -> None:
        from c2cwsgiutils.logging.collector_handler import TOKEN, URL

        base = url or URL.get(None) or DEFAULT_URL
        if "://" not in base:
            base = "http://" + base
        try:
            self.endpoint = Endpoint(base)
        except ValueError:
            raise ClientError(f"invalid collector URL {base!r}: use http://host:port") from None
        self.scheme = self.endpoint.scheme
        self.netloc = self.endpoint.netloc
        self.prefix = self.endpoint.prefix
        self.timeout = timeout
        self.headers: dict[str, str] = {"User-Agent": "c2cwsgiutils-logs"}
        authorization = self.endpoint.authorization(token if token is not None else TOKEN.get(None))
        if authorization:
            self.headers["Authorization"] = authorization
        self._http = KeepAlive(self.endpoint, timeout)

    @property
    def base_url(self) -> str:
        """The collector's base URL, without credentials."""
        return self.endpoint.url

    def _path(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        query = {k: str(v) for k, v in (params or {}).items() if v is not None and v != ""}
        return self.prefix + path + ("?" + urllib.parse.urlencode(query) if query else "")

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """(status, headers, body) of one call; raises ClientError on a network error or a 4xx/5xx."""
        all_headers = {**self.headers, **(headers or {})}
        try:
            status, answer_headers, data = self._http.exchange(
                method, self._path(path, params), body, all_headers
            )
        except (OSError, http.client.HTTPException) as exc:
            raise ClientError(f"cannot reach the collector at {self.base_url}: {exc}") from None
        if status >= 400:
            raise ClientError(_error_message(status, data), status)
        return status, answer_headers, data

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The decoded JSON answer of a GET."""
        return json.loads(self.request("GET", path, params)[2])

    def head(self, path: str, params: Mapping[str, Any] | None = None) -> http.client.HTTPMessage:
        """The headers of a HEAD."""
        return self.request("HEAD", path, params)[1]

    def post_records(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Send records as one gzip NDJSON batch; the collector's ``{stored, duplicates, errors}``."""
        lines = "\n".join(json.dumps(record, ensure_ascii=False, separators=(",", ":")) for record in records)
        body = gzip.compress(lines.encode("utf-8"), compresslevel=5)
        headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
        answer: dict[str, Any] = json.loads(
            self.request("POST", "/api/v1/record", body=body, headers=headers)[2]
        )
        return answer

    def stream(
        self,
        params: Mapping[str, Any],
        last_event_id: str | None = None,
        read_timeout: float = 60.0,
    ) -> Iterator[ServerEvent]:
        """The events of one ``GET /api/v1/stream`` response, until the server ends it."""
        connection = self.endpoint.connect(read_timeout)
        headers = {**self.headers, "Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        try:
            try:
                connection.request("GET", self._path("/api/v1/stream", params), headers=headers)
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise ClientError(f"cannot reach the collector at {self.base_url}: {exc}") from None
            if response.status >= 400:
                raise ClientError(_error_message(response.status, response.read()), response.status)
            yield from parse_events(response)
        finally:
            connection.close()

    def close(self) -> None:
        """Close the keep-alive connection."""
        self._http.close()


def parse_events(lines: Any) -> Iterator[ServerEvent]:
    """Server-Sent Events of a binary line iterator (the ``text/event-stream`` rules we need).

    A block with an ``id`` but no ``data`` is returned too (event ``message``, empty data): it moves
    the last event id, which a browser's EventSource also keeps.
    """
    event_id: str | None = None
    seen_id = False
    event, data = "message", list[str]()
    for raw in lines:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data or seen_id:
                yield ServerEvent(event_id, event, "\n".join(data))
            seen_id = False
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            event_id, seen_id = value, True


def _error_message(status: int, body: bytes) -> str:
    try:
        answer = json.loads(body)
        message = answer.get("message") or answer.get("type")
    except (ValueError, AttributeError):
        message = body[:200].decode("utf-8", "replace")
    return f"the collector answered {status}: {message}"
