"""Back-pressure: a full collector, or one whose storage is down, answers 503 + Retry-After at once."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.collector.records import ndjson, wire
from tests.collector.serve import serve_collector
from tests.helpers import free_port, wait_port

NDJSON = {"Content-Type": "application/x-ndjson"}


def _post(port: int, body: bytes, timeout: float = 10.0) -> tuple[int, dict[str, str], dict[str, Any], float]:
    """(status, headers, JSON answer, seconds) of one POST on a new connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.monotonic()
    try:
        connection.request("POST", "/api/v1/record", body, NDJSON)
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    headers = {name.lower(): value for name, value in response.headers.items()}
    return response.status, headers, answer, time.monotonic() - started


def _count(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("HEAD", "/api/v1/record")
    response = connection.getresponse()
    response.read()
    connection.close()
    return int(response.headers["X-Record-Count"])


@pytest.mark.parametrize("ingest_port", [False, True])
def test_overload_is_answered_503_with_retry_after_quickly(tmp_path: Path, ingest_port: bool) -> None:
    # The ingest port's process runs its own bound (two threads, one ingesting).
    env = {"C2C_COLLECTOR_THREADS": "4", "C2C_COLLECTOR_MAX_INFLIGHT": "1"}
    extra = ("--ingest-port", str(free_port())) if ingest_port else ()
    clients, batches = 32, 3
    bodies = [
        [ndjson(*(wire(f"load {c}.{b}.{n}") for n in range(1000))) for b in range(batches)]
        for c in range(clients)
    ]
    answers: list[tuple[int, str | None, float]] = []
    failures: list[str] = []
    acknowledged: list[int] = []
    with serve_collector(tmp_path, *extra, env=env) as main_port:
        port = int(extra[1]) if extra else main_port
        wait_port(port, timeout=60)
        start = threading.Barrier(clients)

        def client(number: int) -> None:
            start.wait()
            for body in bodies[number]:
                for _attempt in range(100):  # resend after each 503, as the CollectorHandler does
                    try:
                        status, headers, answer, seconds = _post(port, body)
                    except OSError as exc:  # a client time-out (10 s) is a failure of the test
                        failures.append(repr(exc))
                        return
                    answers.append((status, headers.get("retry-after"), seconds))
                    if status == 201:
                        acknowledged.append(answer["stored"] + answer["duplicates"])
                        break
                    if status != 503:
                        failures.append(f"{status} {answer}")
                        return
                    time.sleep(float(headers["retry-after"]) * 0.2)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        stored = _count(main_port)
    refused = [(retry_after, seconds) for status, retry_after, seconds in answers if status == 503]
    assert failures == []
    assert refused, "32 clients posting 1000 records each at once should have met the bound"
    assert all(retry_after == "1" for retry_after, _ in refused)
    assert max(seconds for _, seconds in refused) < 5.0  # generous: a refusal does no work
    assert (sum(acknowledged), stored) == (clients * batches * 1000, clients * batches * 1000)


def test_fewer_concurrent_requests_than_threads_are_never_refused(tmp_path: Path) -> None:
    env = {"C2C_COLLECTOR_THREADS": "8", "C2C_COLLECTOR_MAX_INFLIGHT": "2"}
    clients = 6  # more than the bound, fewer than the threads: they wait their turn
    bodies = [
        [ndjson(*(wire(f"calm {c}.{b}.{n}") for n in range(100))) for b in range(5)] for c in range(clients)
    ]
    statuses: list[int] = []
    with serve_collector(tmp_path, env=env) as port:
        start = threading.Barrier(clients)

        def client(number: int) -> None:
            start.wait()
            statuses.extend(_post(port, body)[0] for body in bodies[number])

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        stored = _count(port)
    assert (statuses, stored) == ([201] * clients * 5, clients * 5 * 100)


class TcpProxy:
    """A TCP forwarder to ``target`` that can be stopped (every connection cut) and started again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, []
        if listener is not None:
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._sockets.extend((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def pg_proxy(pg_url: str) -> Iterator[tuple[TcpProxy, str]]:
    url = make_url(pg_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    yield proxy, url.set(port=proxy.port).render_as_string(hide_password=False)
    proxy.stop()


def test_storage_outage_answers_503_and_logs_one_line_each_way(
    tmp_path: Path, pg_proxy: tuple[TcpProxy, str]
) -> None:
    proxy, db_url = pg_proxy
    tag = uuid.uuid4().hex[:8]
    with serve_collector(tmp_path, "--workers", "1", "--db-url", db_url) as port:
        assert _post(port, ndjson(wire(f"{tag} before")))[0] == 201
        proxy.stop()
        outage = [_post(port, ndjson(wire(f"{tag} during {n}"))) for n in range(20)]
        proxy.start()
        deadline = time.monotonic() + 60
        status = 0
        while status != 201 and time.monotonic() < deadline:
            status = _post(port, ndjson(wire(f"{tag} after")))[0]
            if status == 503:
                time.sleep(0.2)
        assert status == 201
    statuses = {(s, h.get("retry-after"), a["type"]) for s, h, a, _ in outage}
    assert statuses == {(503, "5", "storage_unavailable")}
    assert max(seconds for *_, seconds in outage) < 15.0  # generous: no queueing behind the outage
    log = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
    assert log.count("Collector storage unavailable") == 1, log[-3000:]
    assert log.count("Collector storage available again") == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
