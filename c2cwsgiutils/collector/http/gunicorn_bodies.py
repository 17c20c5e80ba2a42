"""Request bodies under a deadline with gunicorn (``C2C_COLLECTOR_SERVER=gunicorn``).

gunicorn's ``wsgi.input`` reads the client's socket in the request's thread, without a timeout: a
client that sends its headers and a few bytes, then nothing, would hold a thread for as long as it
likes. :class:`ReadBodyFirst` reads the body before the application runs, and a watchdog thread
shuts the socket down at :meth:`Limits.body_deadline`: the thread is back after
``C2C_COLLECTOR_BODY_TIMEOUT`` seconds at most (plus one per ``C2C_COLLECTOR_BODY_MIN_RATE`` bytes
received), the client gets a 408 when its socket still takes one. granian (the default server)
holds no thread at all meanwhile: see :mod:`rsgi_bridge`.
"""

from __future__ import annotations

import contextlib
import heapq
import io
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from c2cwsgiutils.collector.limits import Limits

__all__ = ["ReadBodyFirst", "read_body_first"]

_CHUNK = 65536


class _Watchdog:
    """One thread that shuts down the sockets whose deadline passed."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, socket.socket]] = []
        self._expired: set[int] = set()
        self._done: set[int] = set()
        self._counter = itertools.count()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, deadline: float) -> int:
        with self._condition:
            key = next(self._counter)
            heapq.heappush(self._heap, (deadline, key, sock))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="c2c-body-watchdog", daemon=True)
                self._thread.start()
            self._condition.notify()
            return key

    def release(self, key: int) -> bool:
        """Stop watching; whether the deadline had passed (the socket was shut down)."""
        with self._condition:
            if key in self._expired:  # already off the heap
                self._expired.discard(key)
                return True
            self._done.add(key)
            return False

    def _run(self) -> None:
        while True:
            with self._condition:
                while self._heap and self._heap[0][1] in self._done:
                    self._done.discard(heapq.heappop(self._heap)[1])
                if not self._heap:
                    self._condition.wait()
                    continue
                deadline, key, sock = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                heapq.heappop(self._heap)
                self._expired.add(key)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)  # wakes the recv() of the request's thread


_WATCHDOG = _Watchdog()


class ReadBodyFirst:
    """WSGI middleware (gunicorn): the body read under a deadline, then ``app`` with it in memory."""

    def __init__(self, app: Any, limits: Limits, max_body: int) -> None:
        self.app = app
        self.registry = getattr(app, "registry", None)
        self._limits = limits
        self._max_body = max_body

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        declared = environ.get("CONTENT_LENGTH")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if sock is None or (not declared and not chunked):
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        cap = self._max_body + 1
        if declared:
            try:
                cap = int(declared)
            except ValueError:
                return self.app(environ, start_response)  # type: ignore[no-any-return]
            if cap > self._max_body:
                return self.app(environ, start_response)  # type: ignore[no-any-return] # 413 there
        stream = environ["wsgi.input"]
        started = time.monotonic()
        received = 0
        chunks: list[bytes] = []
        key = _WATCHDOG.watch(sock, self._limits.body_deadline(started, 0))
        expired = False
        try:
            while received < cap:
                chunk = stream.read(min(_CHUNK, cap - received))
                expired = _WATCHDOG.release(key)
                chunks.append(chunk)
                received += len(chunk)
                if not chunk or expired:
                    break
                key = _WATCHDOG.watch(sock, self._limits.body_deadline(started, received))
            else:
                expired = _WATCHDOG.release(key)
        except Exception:  # gunicorn's NoMoreData once the watchdog shut the socket down, OSError ...
            if not _WATCHDOG.release(key):
                raise
            expired = True
        if expired:
            return _timeout(start_response, received, time.monotonic() - started)
        body = b"".join(chunks)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)  # type: ignore[no-any-return]


def _timeout(start_response: Callable[..., Any], received: int, elapsed: float) -> list[bytes]:
    from c2cwsgiutils.collector.http.api import error_answer, json_bytes

    answer, extra = error_answer(
        408,
        "request_timeout",
        f"the request body did not arrive in time ({received} bytes in {elapsed:.1f} s; "
        "C2C_COLLECTOR_BODY_TIMEOUT, C2C_COLLECTOR_BODY_MIN_RATE)",
    )
    body = json_bytes(answer)
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    start_response("408 Request Timeout", [*headers, *extra.items()])
    return [body]


def read_body_first(app: Any) -> ReadBodyFirst:
    """``app`` (the collector's WSGI application) behind :class:`ReadBodyFirst`, with its settings."""
    from c2cwsgiutils.collector.settings import collector_settings

    registry = app.registry
    return ReadBodyFirst(
        app, Limits.from_settings(registry.settings), collector_settings(registry).max_body_bytes
    )
