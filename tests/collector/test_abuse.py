"""Abuse suite (issue #18): hostile clients against real collector processes.

Each test attacks a running ``c2cwsgiutils-logs serve`` the way an outside abuse run did, and checks
that a legitimate writer still gets through and that no answer is a 500.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from c2cwsgiutils.collector.http.auth import hash_secret
from tests.collector.records import wire
from tests.collector.serve import serve_collector
from tests.helpers import child_env, free_port, wait_port

TOKENS = "logger:writer:pw,ui:reader:rd"
WRITER = {"Authorization": "Basic " + base64.b64encode(b"logger:pw").decode()}
READER = {"Authorization": "Basic " + base64.b64encode(b"ui:rd").decode()}
BODY_TIMEOUT = 1.5


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    timeout: float = 10,
) -> tuple[int, bytes, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def post_record(port: int, message: str, timeout: float = 10) -> tuple[int, float]:
    """POST one record as the writer: (status, seconds)."""
    start = time.perf_counter()
    status, _, _ = request(
        port,
        "POST",
        "/api/v1/record",
        {**WRITER, "Content-Type": "application/json"},
        json.dumps(wire(message)).encode(),
        timeout,
    )
    return status, time.perf_counter() - start


def slow_body_client(port: int) -> socket.socket:
    """A client that sends headers and 7 bytes of a 100 KB body, then nothing."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /api/v1/record HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\n"
        b"Authorization: " + WRITER["Authorization"].encode() + b'\r\nContent-Length: 100000\r\n\r\n{"msg":'
    )
    return sock


def status_of(sock: socket.socket, timeout: float) -> int | None:
    """The status the server answered on ``sock`` within ``timeout`` s (None: nothing, or closed)."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(200)
    except OSError:
        return None
    finally:
        sock.close()
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, Path]]:
    """A collector with credentials, an ingest port and short body deadlines: (main, ingest, dir)."""
    directory = tmp_path_factory.mktemp("abuse")
    ingest_port = free_port()
    # Four PBKDF2 credentials: what made each random Bearer token cost 0.38 s of CPU.
    credentials = directory / "credentials"
    credentials.write_text("".join(f"app{i}:writer:{hash_secret(f'pw-{i}')}\n" for i in range(4)))
    env = child_env(
        {
            "C2C_COLLECTOR_TOKENS": TOKENS,
            "C2C_COLLECTOR_CREDENTIALS_FILE": str(credentials),
            "C2C_COLLECTOR_INGEST_PORT": str(ingest_port),
            "C2C_COLLECTOR_BODY_TIMEOUT": str(BODY_TIMEOUT),
        }
    )
    with serve_collector(directory, "--threads", "2", env=env) as port:
        wait_port(ingest_port, timeout=30)
        yield port, ingest_port, directory


@pytest.mark.parametrize("which", ["main", "ingest"])
def test_slow_bodies_hold_no_thread(collector: tuple[int, int, Path], which: str) -> None:
    port = collector[0] if which == "main" else collector[1]
    slow = [slow_body_client(port) for _ in range(4)]
    try:
        status, seconds = post_record(port, f"legit beside slow bodies on the {which} port")
        assert status == 201
        assert seconds < 5, f"a legitimate POST waited {seconds:.1f} s behind slow bodies"
        # Each slow client gets its 408 once its deadline passed.
        assert [status_of(sock, BODY_TIMEOUT + 10) for sock in slow] == [408] * 4
    finally:
        for sock in slow:
            sock.close()


def test_slow_bodies_are_cut_at_the_deadline_with_gunicorn(tmp_path: Path) -> None:
    env = child_env({"C2C_COLLECTOR_BODY_TIMEOUT": str(BODY_TIMEOUT)})
    with serve_collector(tmp_path, "--server", "gunicorn", "--threads", "1", env=env) as port:
        slow = slow_body_client(port)
        try:
            status, seconds = post_record(port, "legit behind a slow body (gunicorn)", timeout=30)
            assert status == 201
            assert seconds < BODY_TIMEOUT + 5
            assert status_of(slow, 5) in (408, None)  # its socket was shut down for reading
        finally:
            slow.close()


def _attack_with_random_tokens(port: int, stop: threading.Event, statuses: Counter[int]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for _ in range(5000):
            if stop.is_set():
                return
            token = os.urandom(16).hex()
            connection.request(
                "POST",
                "/api/v1/record",
                body=b'{"msg": "x"}',
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            response = connection.getresponse()
            response.read()
            statuses[response.status] += 1
    finally:
        connection.close()


def test_random_bearer_tokens_do_not_slow_a_writer(collector: tuple[int, int, Path]) -> None:
    port = collector[0]
    stop = threading.Event()
    statuses: Counter[int] = Counter()
    attackers = [
        threading.Thread(target=_attack_with_random_tokens, args=(port, stop, statuses)) for _ in range(8)
    ]
    for attacker in attackers:
        attacker.start()
    try:
        latencies = [post_record(port, f"legit writer under attack {i}")[1] for i in range(20)]
    finally:
        stop.set()
        for attacker in attackers:
            attacker.join(60)
    assert statistics.median(latencies) < 0.5, f"legit median {statistics.median(latencies):.3f} s"
    assert sum(statuses.values()) > 0
    # 503: refused on arrival by the back-pressure (issue #17), before the token is looked at.
    assert set(statuses) <= {401, 429, 503}, statuses


def test_without_credentials_only_localhost_names_and_same_origin_writes(tmp_path: Path) -> None:
    with serve_collector(tmp_path) as port:
        record = json.dumps(wire("from a script")).encode()
        json_type = {"Content-Type": "application/json"}
        assert request(port, "POST", "/api/v1/record", json_type, record)[0] == 201
        assert request(port, "GET", "/api/v1/status", {"Host": f"localhost:{port}"})[0] == 200
        # DNS rebinding: evil.example now resolves to 127.0.0.1, the browser still sends its name.
        status, body, _ = request(port, "GET", "/api/v1/record", {"Host": f"evil.example:{port}"})
        assert status == 421
        assert json.loads(body)["type"] == "misdirected_request"
        status, _, _ = request(port, "POST", "/api/v1/record", {**json_type, "Host": "evil.example"}, record)
        assert status == 421
        # A form posted by a page of another origin (no CORS preflight for forms).
        form = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"}
        status, body, _ = request(port, "POST", "/api/v1/record", form, b"msg=forged&name=x&levelno=20")
        assert status == 403
        assert json.loads(body)["type"] == "cross_origin"
        cross_site = {**json_type, "Sec-Fetch-Site": "cross-site"}
        assert request(port, "POST", "/api/v1/record", cross_site, record)[0] == 403
        # The collector's own UI (same origin) may write.
        same = {**json_type, "Origin": f"http://127.0.0.1:{port}"}
        again = json.dumps(wire("from the UI")).encode()
        assert request(port, "POST", "/api/v1/record", same, again)[0] == 201


def test_with_credentials_cross_origin_writes_are_refused_too(collector: tuple[int, int, Path]) -> None:
    port = collector[0]
    headers = {**WRITER, "Content-Type": "application/json", "Origin": "https://evil.example"}
    status, _, _ = request(port, "POST", "/api/v1/record", headers, json.dumps(wire("x")).encode())
    assert status == 403


def test_open_live_tails_do_not_starve_status_or_ingestion(collector: tuple[int, int, Path]) -> None:
    port = collector[0]  # two threads (--threads 2): eight tails used to hold them all
    tails = []
    try:
        for index in range(8):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            path = "/api/v1/stream" if index % 2 else "/api/v1/stream/" + "ab" * 16  # the UI's path
            connection.request("GET", f"{path}?timeout=60", headers=READER)
            response = connection.getresponse()
            assert response.status == 200
            tails.append(connection)
        start = time.perf_counter()
        status, body, _ = request(port, "GET", "/api/v1/status", READER, timeout=10)
        assert status == 200, body
        assert post_record(port, "written beside eight live tails", timeout=10)[0] == 201
        assert time.perf_counter() - start < 5
    finally:
        for connection in tails:
            connection.close()
