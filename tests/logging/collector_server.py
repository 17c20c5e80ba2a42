"""A small real collector implementing the ingestion wire contract, for the handler's tests.

``POST /api/v1/record`` with a gzip NDJSON body; each line needs a 32-hex ``c2c_uuid`` (the
idempotency key the handler sets; ``uuid`` is user data); records are kept once per ``c2c_uuid``
(resends count as duplicates). Answers 201, 207 (lines carrying
``"poison": true`` or that are not JSON objects are invalid), 400 (body not gzip/UTF-8), 413
(more lines than ``max_lines``, or a body over ``max_body`` bytes), 401 (wrong token), or whatever
``status`` forces (500 ...; with ``Retry-After: retry_after`` when that is set).
``delay`` makes it slow. It can be stopped and started again on the same port (open keep-alive
connections are cut, like a real restart).

Run as a process (``python -m tests.logging.collector_server --port P --store FILE``) for tests
that SIGKILL it: every accepted line is written to ``store`` (one ``os.write``) before the
answer, and the uuids already there are loaded at start, so the count survives a kill.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_UUID = re.compile(r"[0-9a-f]{32}\Z")


class CollectorServer:
    """The collector's ingestion endpoint, in this process, on 127.0.0.1:port."""

    def __init__(
        self,
        port: int,
        token: str = "",
        max_lines: int = 0,
        store: str | None = None,
        delay: float = 0.0,
        lean: bool = False,
    ) -> None:
        self.port = port
        self.token = token
        self.max_lines = max_lines
        self.delay = delay
        self.lean = lean  # keep only the uuids in memory (long benchmarks: no GC pauses)
        self.status = 0  # forced status (0: normal behaviour)
        self.retry_after: float | None = None  # sent as Retry-After with a forced status
        self.max_body = 0  # bytes of a decoded body past which it answers 413 (0: no limit)
        self.records: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.duplicates = 0
        self.requests: list[dict[str, str]] = []  # headers of every POST
        self.statuses: list[int] = []
        self.peers: list[int] = []  # client port of every POST (one port: one keep-alive connection)
        self._lock = threading.Lock()
        self._store_fd = -1
        if store is not None:
            if os.path.exists(store):
                with open(store, "rb+") as file:
                    data = file.read()
                    # A kill in the middle of a write leaves a torn last line: never acknowledged.
                    file.truncate(data.rfind(b"\n") + 1)
                for line in data[: data.rfind(b"\n") + 1].decode().splitlines():
                    self._keep(json.loads(line))
            self._store_fd = os.open(store, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()

    def _keep(self, record: dict[str, Any]) -> bool:
        key = record["c2c_uuid"]
        if key in self.records:
            self.duplicates += 1
            return False
        self.records[key] = {} if self.lean else record
        self.order.append(key)
        return True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def messages(self) -> list[str]:
        with self._lock:
            return [self.records[u]["msg"] for u in self.order]

    def start(self) -> CollectorServer:
        owner = self

        class Handler(_Handler):
            server_owner = owner

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def ingest(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Apply the contract to one POST; returns (status, answer)."""
        with self._lock:
            self.requests.append(headers)
        if self.token and headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": "unauthorized", "message": "a writer token is required"}
        if self.delay:
            time.sleep(self.delay)
        if self.status:
            return self.status, {"error": "forced", "message": f"forced status {self.status}"}
        if self.max_body and len(body) > self.max_body:
            return 413, {"error": "too_large", "message": f"at most {self.max_body} bytes"}
        try:
            text = (gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body).decode()
        except (OSError, EOFError, UnicodeDecodeError):
            return 400, {"error": "bad_body", "message": "body is not gzip-encoded UTF-8"}
        if self.max_body and len(text) > self.max_body:
            return 413, {"error": "too_large", "message": f"at most {self.max_body} bytes"}
        lines = text.splitlines()
        if self.max_lines and len(lines) > self.max_lines:
            return 413, {"error": "too_large", "message": f"at most {self.max_lines} records per batch"}
        stored, duplicates, errors, accepted = 0, 0, [], []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                errors.append({"line": number, "error": f"invalid JSON: {exc}"})
                continue
            if not isinstance(record, dict) or not _UUID.match(str(record.get("c2c_uuid", ""))):
                errors.append({"line": number, "error": "a record is an object with a 32-hex c2c_uuid"})
                continue
            if record.get("poison"):
                errors.append({"line": number, "error": "poisoned record"})
                continue
            accepted.append(record)
        with self._lock:
            new = []
            for record in accepted:
                if self._keep(record):
                    stored += 1
                    new.append(record)
                else:
                    duplicates += 1
            if new and self._store_fd >= 0:
                data = "".join(json.dumps(r) + "\n" for r in new).encode()
                view = memoryview(data)
                while view:
                    view = view[os.write(self._store_fd, view) :]
        return (207 if errors else 201), {"stored": stored, "duplicates": duplicates, "errors": errors}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_owner: CollectorServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server_owner._lock:
            self.server_owner._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server_owner._lock:
                self.server_owner._connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path != "/api/v1/record":
            status, answer = 404, {"error": "not_found", "message": self.path}
        else:
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = self.server_owner.ingest(headers, body)
        self.server_owner.statuses.append(status)
        self.server_owner.peers.append(self.client_address[1])
        data = json.dumps(answer).encode()
        self.send_response(status)
        if self.server_owner.status and self.server_owner.retry_after is not None:
            self.send_header("Retry-After", f"{self.server_owner.retry_after:g}")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--max-lines", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering")
    args = parser.parse_args()
    options = {"max_lines": args.max_lines, "store": args.store, "delay": args.delay}
    server = CollectorServer(args.port, lean=True, **options)
    server.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
