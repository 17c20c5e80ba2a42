"""A small HTTP client of the collector API for the command line (standard library only).

The base URL and the token default to ``C2C_COLLECTOR_URL`` and ``C2C_COLLECTOR_TOKEN``, the
settings the :class:`~c2cwsgiutils.logging.collector_handler.CollectorHandler` ships with. The
token is sent as ``Authorization: Bearer``; a URL with ``user:password@`` sends HTTP Basic.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ClientError", "CollectorClient", "ServerEvent"]

DEFAULT_URL = "http://127.0.0.1:8090"


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
        parsed = urllib.parse.urlsplit(base)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ClientError(f"invalid collector URL {base!r}: use http://host:port")
        self.scheme = parsed.scheme
        self.netloc = parsed.hostname if parsed.port is None else f"{parsed.hostname}:{parsed.port}"
        if ":" in (parsed.hostname or "") and parsed.port is not None:
            self.netloc = f"[{parsed.hostname}]:{parsed.port}"
        self.prefix = parsed.path.rstrip("/")
        self.timeout = timeout
        self.headers: dict[str, str] = {"User-Agent": "c2cwsgiutils-logs"}
        token = token if token is not None else TOKEN.get(None)
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        elif parsed.username is not None:
            pair = f"{urllib.parse.unquote(parsed.username)}:{urllib.parse.unquote(parsed.password or '')}"
            self.headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        self._connection: http.client.HTTPConnection | None = None

    @property
    def base_url(self) -> str:
        """The collector's base URL, without credentials."""
        return f"{self.scheme}://{self.netloc}{self.prefix}"

    def _connect(self, timeout: float | None = None) -> http.client.HTTPConnection:
        factory = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return factory(self.netloc, timeout=timeout or self.timeout)

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
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = self._connect()
            try:
                self._connection.request(method, self._path(path, params), body=body, headers=all_headers)
                response = self._connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if attempt == 2:
                    raise ClientError(f"cannot reach the collector at {self.base_url}: {exc}") from None
            except OSError as exc:
                self.close()
                raise ClientError(f"cannot reach the collector at {self.base_url}: {exc}") from None
        if response.status >= 400:
            raise ClientError(_error_message(response.status, data), response.status)
        return response.status, response.headers, data

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
        connection = self._connect(read_timeout)
        headers = {**self.headers, "Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        try:
            try:
                connection.request("GET", self._path("/api/v1/stream", params), headers=headers)
                response = connection.getresponse()
            except OSError as exc:
                raise ClientError(f"cannot reach the collector at {self.base_url}: {exc}") from None
            if response.status >= 400:
                raise ClientError(_error_message(response.status, response.read()), response.status)
            yield from parse_events(response)
        finally:
            connection.close()

    def close(self) -> None:
        """Close the keep-alive connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


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


def wait_ready(client: CollectorClient, timeout: float) -> None:
    """Poll the status endpoint until it answers (used by tests and scripts)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.get_json("/api/v1/status")
            return
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
