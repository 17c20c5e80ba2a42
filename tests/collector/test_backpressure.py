"""Back-pressure: a full collector, or one whose storage is down, answers 503 + Retry-After at once."""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from c2cwsgiutils.collector.http.admission import PendingGate
from tests.collector.records import ndjson, wire
from tests.collector.serve import serve_collector
from tests.collector.tcp_proxy import TcpProxy
from tests.helpers import free_port, wait_port

NDJSON = {"Content-Type": "application/x-ndjson"}
LOAD_SECONDS = 8.0


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
    # The ingest port's process runs its own bound (eight threads, one ingesting). The server grows
    # its pool of threads under a sustained load: the clients go on for LOAD_SECONDS.
    env = {"C2C_COLLECTOR_THREADS": "4", "C2C_COLLECTOR_MAX_INFLIGHT": "1"}
    extra = ("--ingest-port", str(free_port())) if ingest_port else ()
    clients = 32
    answers: list[tuple[int, str | None, float]] = []
    failures: list[str] = []
    acknowledged: list[int] = []
    with serve_collector(tmp_path, *extra, env=env) as main_port:
        port = int(extra[1]) if extra else main_port
        wait_port(port, timeout=60)
        start = threading.Barrier(clients)
        deadline = time.monotonic() + 60

        def client(number: int) -> None:
            start.wait()
            stop = time.monotonic() + LOAD_SECONDS
            for batch in range(1000):
                if time.monotonic() > stop:
                    return
                body = ndjson(*(wire(f"load {number}.{batch}.{n}") for n in range(1000)))
                while time.monotonic() < deadline:  # resend after each 503, as the CollectorHandler does
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
    assert refused, "32 clients posting 1000 records each for a while should have met the bound"
    assert all(retry_after == "1" for retry_after, _ in refused)
    assert max(seconds for _, seconds in refused) < 5.0  # generous: a refusal does no work
    assert sum(acknowledged) == stored == len(acknowledged) * 1000


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


def test_the_pending_gate_bounds_requests_and_bytes() -> None:
    gate = PendingGate(count=3, size=100, retry_after=1)
    assert [gate.admit(40), gate.admit(40), gate.admit(40)] == [True, True, False]  # 120 bytes > 100
    assert [gate.admit(10), gate.admit(10)] == [True, False]  # 3 requests held
    gate.release(40)
    assert (gate.admit(30), gate.pending, gate.pending_bytes, gate.refused) == (True, 3, 80, 2)
    lone = PendingGate(count=3, size=100, retry_after=1)
    assert lone.admit(500)  # alone, a large body is the body limit's business (413), not a 503
