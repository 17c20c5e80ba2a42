"""The collector's WSGI application behind granian's RSGI interface: bodies read under a deadline.

Under granian's WSGI interface, ``wsgi.input.read()`` holds a Python thread until the client has
sent the body, and nothing in the application can bound that wait: one client sending its headers
and three bytes of a 100 KB body, then nothing, held the ingest port's only thread, and every
other POST waited until it gave up (issue #18). Here the body arrives in granian's event loop,
asynchronously, under :meth:`Limits.body_deadline` (``C2C_COLLECTOR_BODY_TIMEOUT`` plus one second
per ``C2C_COLLECTOR_BODY_MIN_RATE`` bytes received); a client past it gets a 408 and its
connection is closed. Only a complete body reaches the WSGI application, as ``wsgi.input``
(a ``BytesIO``), which runs:

- on the ingest port (:func:`create_ingest_app`): inline, in the event loop's thread: one thread,
  as the port was designed for (see :mod:`ingest_listener`), while other bodies keep arriving;
- on the main port (:func:`create_app`): in a pool of ``C2C_COLLECTOR_THREADS`` threads, and the
  live tails (``GET /api/v1/stream``) in a pool of their own of ``C2C_COLLECTOR_MAX_STREAMS``
  threads: open tails never take the threads that status, queries and ingestion need; one tail
  too many gets a 503 with ``Retry-After``.

Ingestion requests (``POST /api/v1/record``, ``/v1/logs``, ``/v1/traces``) first take a place in
the process's :class:`~c2cwsgiutils.collector.http.admission.PendingGate`, in the event loop, before
their body is read: past its bound they are answered 503 with ``Retry-After`` at once (their body
read and dropped, so the connection stays open), whatever the number of clients (issue #17).

The WSGI environ is the one granian's WSGI interface builds (``PATH_INFO`` percent-decoded, as
Latin-1; repeated headers joined by ``,``, cookies by ``;``).
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from c2cwsgiutils.collector.http.admission import INGEST_PATHS, PendingGate
from c2cwsgiutils.collector.limits import Limits

__all__ = ["STREAM_PATH", "WsgiOverRsgi", "create_app", "create_ingest_app"]

STREAM_PATH = "/api/v1/stream"
_STREAM_PREFIX = STREAM_PATH + "/"  # the web UI's scoped path (see collector.stream)


class _BodyRefused(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


def _error(protocol: Any, status: int, error_type: str, message: str, **headers: str) -> None:
    from c2cwsgiutils.collector.http.api import error_answer, json_bytes

    answer, extra = error_answer(status, error_type, message)
    sent = [("content-type", "application/json"), *extra.items(), *headers.items()]
    protocol.response_bytes(status, sent, json_bytes(answer))


def _environ(scope: Any, body: bytes | None, declared_length: str | None) -> dict[str, Any]:
    server_host, _, server_port = scope.server.rpartition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        # RSGI gives the percent-decoded path as UTF-8 text; WSGI wants its bytes as Latin-1.
        "PATH_INFO": scope.path.encode("utf-8", "surrogateescape").decode("latin-1"),
        "QUERY_STRING": scope.query_string.encode("utf-8", "surrogateescape").decode("latin-1"),
        "SERVER_NAME": server_host.strip("[]"),
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "REMOTE_ADDR": scope.client.rpartition(":")[0].strip("[]"),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": io.BytesIO(body or b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    if body is not None:
        environ["CONTENT_LENGTH"] = str(len(body))
    elif declared_length is not None:  # not read (larger than the limit): the application says 413
        environ["CONTENT_LENGTH"] = declared_length
    for name, value in scope.headers.items():
        if name in ("content-length", "transfer-encoding"):
            continue
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
            continue
        key = "HTTP_" + name.upper().replace("-", "_")
        previous = environ.get(key)
        environ[key] = value if previous is None else previous + ("; " if name == "cookie" else ",") + value
    return environ


class _Started:
    """What the application passed to ``start_response``."""

    status = 500
    headers: list[tuple[str, str]]

    def __init__(self) -> None:
        self.headers = []
        self.written: list[bytes] = []

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        self.status = int(status.split(" ", 1)[0])
        self.headers = headers
        return self.written.append


def _start(app: Any, environ: dict[str, Any]) -> tuple[_Started, bytes, Iterator[bytes] | None, Any]:
    """Call the application: (start_response's values, the first bytes, the rest or None, the result)."""
    started = _Started()
    result: Iterable[bytes] = app(environ, started)
    if isinstance(result, (list, tuple)):
        _close(result)
        return started, b"".join((*started.written, *result)), None, None
    iterator = iter(result)
    for chunk in iterator:
        if chunk:
            return started, b"".join((*started.written, chunk)), iterator, result
    _close(result)
    return started, b"".join(started.written), None, None


def _close(result: Any) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()


class WsgiOverRsgi:
    """RSGI application running a WSGI ``app`` once its request body has arrived (see the module)."""

    def __init__(
        self, app: Any, limits: Limits, max_body: int, threads: int | None, gate: PendingGate | None = None
    ) -> None:
        self.app = app
        self._gate = gate
        self.registry = getattr(app, "registry", None)
        self._limits = limits
        self._max_body = max_body
        # None: inline, in the event loop's thread (the ingest port).
        self._pool = ThreadPoolExecutor(threads, "c2c-collector") if threads else None
        self._streams = ThreadPoolExecutor(limits.max_streams, "c2c-collector-stream") if threads else None
        self._open_streams = 0  # only touched in the event loop's thread

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        """Serve one HTTP request."""
        if scope.proto != "http":
            return
        declared = scope.headers.get("content-length")
        gate = self._gate
        if gate is not None and scope.method == "POST" and scope.path in INGEST_PATHS:
            size = int(declared) if declared is not None and declared.isdigit() else 0
            if not gate.admit(size):
                await self._drain(protocol, size)
                _error(
                    protocol,
                    503,
                    "overloaded",
                    f"the collector holds {gate.pending} ingestion requests already: retry later",
                    **{"retry-after": str(gate.retry_after)},
                )
                return
            try:
                await self._serve(scope, protocol, declared)
            finally:
                gate.release(size)
            return
        await self._serve(scope, protocol, declared)

    async def _drain(self, protocol: Any, declared: int) -> None:
        """Read and drop a refused request's body (at most ``declared`` or the body limit), under
        the body deadline, so that its client's keep-alive connection stays usable."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        received = 0
        cap = declared or self._max_body
        body = protocol.__aiter__()
        while received < cap:
            remaining = self._limits.body_deadline(started, received) - loop.time()
            if remaining <= 0:
                return
            try:
                chunk = await asyncio.wait_for(body.__anext__(), remaining)
            except (StopAsyncIteration, TimeoutError, asyncio.TimeoutError, RuntimeError):
                return
            received += len(chunk)

    async def _serve(self, scope: Any, protocol: Any, declared: str | None) -> None:
        try:
            body = await self._body(scope, protocol, declared)
        except _BodyRefused as exc:
            _error(protocol, exc.status, exc.error_type, str(exc), connection="close")
            return
        except RuntimeError:  # RSGIProtocolClosed / RSGIProtocolError: the client went away
            return
        environ = _environ(scope, body, declared)
        if self._pool is None:
            started, first, rest, result = _start(self.app, environ)
            assert rest is None or result is not None
            protocol.response_bytes(started.status, started.headers, first + b"".join(rest or ()))
            if rest is not None:
                _close(result)
            return
        pool = self._pool
        path = scope.path
        if self._streams is not None and (path == STREAM_PATH or path.startswith(_STREAM_PREFIX)):
            if self._open_streams >= self._limits.max_streams:
                _error(
                    protocol,
                    503,
                    "too_many_streams",
                    f"{self._open_streams} live tails are open, the limit (C2C_COLLECTOR_MAX_STREAMS); "
                    "retry later",
                    **{"retry-after": "5"},
                )
                return
            pool = self._streams
            self._open_streams += 1
        try:
            await self._respond(pool, environ, protocol)
        finally:
            if pool is self._streams:
                self._open_streams -= 1

    async def _body(self, scope: Any, protocol: Any, declared: str | None) -> bytes | None:
        """The request body, or None when there is none or when it is larger than the limit."""
        chunked = "chunked" in (scope.headers.get("transfer-encoding") or "").lower()
        if declared is None and not chunked:
            return None
        cap = self._max_body + 1
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                raise _BodyRefused(400, "invalid_header", "Content-Length must be an integer") from None
            if length > self._max_body:
                return None
            if length == 0:
                return b""
            cap = length
        loop = asyncio.get_running_loop()
        started = loop.time()
        chunks: list[bytes] = []
        received = 0
        body = protocol.__aiter__()
        while received < cap:
            remaining = self._limits.body_deadline(started, received) - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                chunk = await asyncio.wait_for(body.__anext__(), remaining)
            except StopAsyncIteration:
                break
            except (TimeoutError, asyncio.TimeoutError):
                raise _BodyRefused(
                    408,
                    "request_timeout",
                    f"the request body did not arrive in time ({received} bytes in "
                    f"{loop.time() - started:.1f} s; see C2C_COLLECTOR_BODY_TIMEOUT)",
                ) from None
            chunks.append(chunk)
            received += len(chunk)
        return b"".join(chunks)

    async def _respond(self, pool: ThreadPoolExecutor, environ: dict[str, Any], protocol: Any) -> None:
        loop = asyncio.get_running_loop()
        started, first, rest, result = await loop.run_in_executor(pool, _start, self.app, environ)
        if rest is None:
            protocol.response_bytes(started.status, started.headers, first)
            return
        try:
            transport = protocol.response_stream(started.status, started.headers)
            await transport.send_bytes(first)
            while True:
                chunk = await loop.run_in_executor(pool, next, rest, None)
                if chunk is None:
                    break
                if chunk:
                    await transport.send_bytes(chunk)
        except RuntimeError:  # the client went away
            pass
        finally:
            await loop.run_in_executor(pool, _close, result)


def _bridge(app: Any, threads: int | None) -> WsgiOverRsgi:
    from c2cwsgiutils.collector.settings import collector_settings, pending_gate

    registry = app.registry
    settings = collector_settings(registry)
    gate = None if settings.forward_url else pending_gate(settings, inline=threads is None)
    return WsgiOverRsgi(app, Limits.from_settings(registry.settings), settings.max_body_bytes, threads, gate)


def create_app() -> WsgiOverRsgi:
    """The collector's main port under RSGI: :func:`c2cwsgiutils.collector.http.app.create_app` in threads."""
    from c2cwsgiutils.collector.http import app
    from c2cwsgiutils.collector.settings import THREADS

    wsgi = app.create_app()
    return _bridge(wsgi, THREADS.get(wsgi.registry.settings))


def create_ingest_app() -> WsgiOverRsgi:
    """The ingest port under RSGI: :func:`c2cwsgiutils.collector.http.app.create_ingest_app`, inline."""
    from c2cwsgiutils.collector.http import app

    return _bridge(app.create_ingest_app(), None)
