"""``serve --ingest-port``: ``POST /api/v1/record`` alone on a second port, from a child process."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.collector.records import ndjson, ship_with_httphandler, wire
from tests.collector.serve import serve_collector
from tests.collector.tcp_proxy import TcpProxy
from tests.helpers import free_port, start_process, wait_for, wait_port

TOKENS = "logger:writer:pw,ui:reader:rd"
WRITER = {"Authorization": "Basic " + base64.b64encode(b"logger:pw").decode()}
READER = {"Authorization": "Basic " + base64.b64encode(b"ui:rd").decode()}
LOGS = str(Path(sys.executable).parent / "c2cwsgiutils-logs")


def _request(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes = b"", timeout: float = 10
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _post_json(port: int, message: str, timeout: float = 10) -> tuple[int, bytes]:
    """POST one JSON record with ``message`` as the writer."""
    body = json.dumps(wire(message)).encode()
    headers = {**WRITER, "Content-Type": "application/json"}
    return _request(port, "POST", "/api/v1/record", headers, body, timeout=timeout)


def _children(parent: int) -> list[int]:
    """Pids of the processes whose parent is ``parent`` and that run the ingest listener."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == parent and b"--ingest-listener" in command:
            found.append(int(entry))
    return found


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"  # exited, its parent has not reaped it yet


@contextmanager
def _serve(directory: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], int, int]]:
    port, ingest = free_port(), free_port()
    command = [LOGS, "serve", "--port", str(port), "--ingest-port", str(ingest)]
    command += ["--db-url", f"sqlite:///{directory / 'c.sqlite'}", *args]
    process = start_process(command, env={"C2C_COLLECTOR_TOKENS": TOKENS}, log=directory / "server.log")
    try:
        wait_port(port, timeout=60, process=process)
        yield process, port, ingest
    finally:
        # The whole group: also what a parent killed by the test left behind.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_ingest_port_stores_forms_and_batches_and_refuses_the_rest(tmp_path: Path) -> None:
    with _serve(tmp_path) as (_, port, ingest):
        ship_with_httphandler(ingest, "tests.collector.ingest_port", "through the ingest port", order=3)
        status, body = _request(
            ingest,
            "POST",
            "/api/v1/record",
            {**WRITER, "Content-Type": "application/x-ndjson"},
            ndjson(wire("batch one"), wire("batch two")),
        )
        assert (status, json.loads(body)["stored"]) == (201, 2)

        # The records are the main port's: one database.
        status, body = _request(port, "GET", "/api/v1/record?name=tests.collector.ingest_port", READER)
        assert status == 200
        (summary,) = json.loads(body)
        status, body = _request(port, "GET", f"/api/v1/record/{summary['id']}", READER)
        record = json.loads(body)
        # A form extra keeps the type of its literal.
        assert (record["message"], record["data"]["order"]) == ("through the ingest port", 3)

        # Auth is the same on both ports.
        status, body = _request(ingest, "POST", "/api/v1/record", READER, b"msg=x")
        assert (status, json.loads(body)["type"]) == (403, "forbidden")
        # Anything but POST /api/v1/record: a JSON 404 that says where to go.
        for method, path in (("GET", "/api/v1/record"), ("GET", "/api/v1/status"), ("GET", "/")):
            status, body = _request(ingest, method, path, READER)
            answer = json.loads(body)
            assert (status, answer["type"]) == (404, "not_found"), path
            assert "main port" in answer["message"]


def test_a_live_tail_holding_the_main_port_does_not_hold_up_the_ingest_port(tmp_path: Path) -> None:
    # One thread on the main port, taken by the tail: the ingest port still answers at once.
    with _serve(tmp_path, "--threads", "1") as (_, port, ingest):
        tail = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        tail.request("GET", "/api/v1/stream?poll_ms=50&timeout=20", headers=READER)
        response = tail.getresponse()
        assert response.status == 200
        response.readline()  # the stream is open: the main port's only thread is in it
        begin = time.monotonic()
        status, body = _post_json(ingest, "while tailing", timeout=5)
        assert status == 201, body
        assert time.monotonic() - begin < 5
        # ...and the tail sees the record stored through the other port.
        seen = b""
        while b"while tailing" not in seen:
            line = response.readline()
            assert line, seen
            seen += line
        tail.close()


def test_the_ingest_listener_ends_with_serve(tmp_path: Path) -> None:
    with _serve(tmp_path) as (process, _, ingest):
        children = _children(process.pid)
        assert len(children) == 1
        process.send_signal(signal.SIGTERM)  # the parent only, not its group
        process.wait(30)
        wait_for(lambda: _gone(children[0]), 20, "the ingest listener gone")
        with pytest.raises(TimeoutError):
            wait_port(ingest, timeout=0.5)


def test_a_killed_serve_leaves_no_ingest_listener(tmp_path: Path) -> None:
    with _serve(tmp_path) as (process, _, _ingest):
        children = _children(process.pid)
        assert len(children) == 1
        process.kill()  # SIGKILL: no clean-up of its own; the kernel signals the child
        process.wait(10)
        wait_for(lambda: _gone(children[0]), 20, "the ingest listener gone")


def test_the_ingest_listener_is_started_again_when_it_dies(tmp_path: Path) -> None:
    with _serve(tmp_path) as (process, _, ingest):
        (child,) = _children(process.pid)
        os.kill(child, signal.SIGKILL)
        wait_for(lambda: [c for c in _children(process.pid) if c != child], 30, "a new ingest listener")
        wait_port(ingest, timeout=30)
        status, _ = _post_json(ingest, "after the restart")
        assert status == 201


def _serve_fails(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    command = [LOGS, "serve", "--db-url", f"sqlite:///{tmp_path / 'c.sqlite'}", *args]
    process = start_process(command, env=env, log=tmp_path / "out.log")
    try:
        assert process.wait(60) == 2
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return (tmp_path / "out.log").read_text()


def test_ingest_port_equal_to_the_main_port_is_refused(tmp_path: Path) -> None:
    port = str(free_port())
    output = _serve_fails(tmp_path, "--port", port, "--ingest-port", port)
    assert f"C2C_COLLECTOR_INGEST_PORT={port} is the main port" in output


def test_ingest_port_in_relay_mode_is_refused(tmp_path: Path) -> None:
    output = _serve_fails(
        tmp_path,
        "--port",
        str(free_port()),
        "--ingest-port",
        str(free_port()),
        "--forward",
        "http://127.0.0.1:9/",
    )
    assert "C2C_COLLECTOR_INGEST_PORT is not available in relay mode" in output


def test_a_taken_ingest_port_stops_serve_before_the_main_port_opens(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # bound, not listening: a connection to it is refused
        ingest = taken.getsockname()[1]
        port = free_port()
        output = _serve_fails(tmp_path, "--port", str(port), "--ingest-port", str(ingest))
    assert f"the ingest listener (C2C_COLLECTOR_INGEST_PORT={ingest}) did not start" in output
    with pytest.raises(TimeoutError):
        wait_port(port, timeout=0.5)


def test_a_bad_ingest_port_value_names_the_variable(tmp_path: Path) -> None:
    output = _serve_fails(tmp_path, "--port", str(free_port()), env={"C2C_COLLECTOR_INGEST_PORT": "eighty"})
    assert "C2C_COLLECTOR_INGEST_PORT" in output


def _gunicorn_workers(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                command = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if int(stat[1]) == parent and b"--ingest-listener" not in command:
                found.append(int(entry))
    return found


def test_with_gunicorn_a_worker_that_exits_leaves_the_ingest_listener_alone(tmp_path: Path) -> None:
    # gunicorn's workers are forks of serve's process: one that exits must not stop the child.
    with _serve(tmp_path, "--server", "gunicorn") as (process, _, ingest):
        (child,) = _children(process.pid)
        wait_for(lambda: _gunicorn_workers(process.pid), 30, "a gunicorn worker")
        (worker,) = _gunicorn_workers(process.pid)
        os.kill(worker, signal.SIGTERM)  # a graceful worker exit: it unwinds serve's stack
        wait_for(lambda: _gone(worker), 20, "the gunicorn worker gone")
        # A wrong stop would have signalled the child before the worker was gone; by the time
        # gunicorn has replaced the worker, the child would be exiting or restarted.
        wait_for(lambda: set(_gunicorn_workers(process.pid)) - {worker}, 30, "a new gunicorn worker")
        assert not _gone(child)
        assert _children(process.pid) == [child]
        status, _ = _post_json(ingest, "gunicorn")
        assert status == 201


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_a_second_collector_on_a_taken_main_port_exits_2(tmp_path: Path, server: str) -> None:
    first = tmp_path / "first"
    first.mkdir()
    with serve_collector(first, "--server", server) as port:
        output = _serve_fails(tmp_path, "--port", str(port), "--server", server)
        assert f"port {port} on 127.0.0.1 is taken" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/status", timeout=10) as answer:
            assert answer.status == 200


def _otlp_json_log(message: str, trace_id: str) -> bytes:
    log = {
        "timeUnixNano": str(time.time_ns()),
        "severityNumber": 13,
        "body": {"stringValue": message},
        "traceId": trace_id,
    }
    scope_logs = {"scope": {"name": "tests.collector.ingest_port"}, "logRecords": [log]}
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "otel-ingest"}}]}
    return json.dumps({"resourceLogs": [{"resource": resource, "scopeLogs": [scope_logs]}]}).encode()


def test_an_opentelemetry_exporter_pointed_at_the_ingest_port_is_stored(tmp_path: Path) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    with _serve(tmp_path) as (_, port, ingest):
        # The real SDK's OTLP/HTTP exporter (protobuf) to the ingest port's /v1/traces.
        provider = TracerProvider(resource=Resource.create({"service.name": "otel-ingest"}))
        exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{ingest}/v1/traces", headers=WRITER)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with provider.get_tracer("tests.collector.ingest_port").start_as_current_span("checkout") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
        provider.shutdown()
        # OTLP/JSON to its /v1/logs: the OTLP answer, in the request's encoding.
        headers = {**WRITER, "Content-Type": "application/json"}
        status, body = _request(ingest, "POST", "/v1/logs", headers, _otlp_json_log("paid", trace_id))
        assert (status, json.loads(body)) == (200, {})

        def stored() -> list[dict[str, Any]]:
            query = urllib.parse.urlencode({"query": f"trace_id = {trace_id!r}"})
            status, body = _request(port, "GET", f"/api/v1/record?{query}", READER)
            assert status == 200
            return json.loads(body)  # type: ignore[no-any-return]

        wait_for(lambda: len(stored()) == 2, 20, "the span and the log record")
        records = stored()
        assert sorted(r["message"] for r in records)[0] == "paid"
        assert sorted(r["message"] for r in records)[1].startswith("span checkout ok in ")
        assert {r["service"] for r in records} == {"otel-ingest"}

        # The same auth as on the main port, answered in OTLP's shape (a google.rpc.Status).
        reader = {**READER, "Content-Type": "application/json"}
        status, body = _request(ingest, "POST", "/v1/logs", reader, b"{}")
        assert (status, json.loads(body)["code"]) == (403, 7)
        # Only POST: anything else on those paths is the port's JSON 404.
        status, body = _request(ingest, "GET", "/v1/traces", READER)
        answer = json.loads(body)
        assert (status, answer["type"]) == (404, "not_found")
        assert "/v1/logs and /v1/traces" in answer["message"]


def test_otlp_on_the_ingest_port_gets_503_with_retry_after_when_the_storage_is_down(
    tmp_path: Path, pg_proxy: tuple[TcpProxy, str]
) -> None:
    # The same back-pressure as on the main port: an OpenTelemetry exporter retries after a 503.
    proxy, db_url = pg_proxy
    headers = {**WRITER, "Content-Type": "application/json"}
    trace_id = uuid.uuid4().hex
    with _serve(tmp_path, "--db-url", db_url) as (_, _port, ingest):
        status, _ = _request(ingest, "POST", "/v1/logs", headers, _otlp_json_log("before", trace_id))
        assert status == 200
        proxy.stop()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", ingest, timeout=30)
            connection.request("POST", "/v1/logs", body=_otlp_json_log("during", trace_id), headers=headers)
            response = connection.getresponse()
            answer = json.loads(response.read())
            connection.close()
        finally:
            proxy.start()
    assert (response.status, response.getheader("Retry-After")) == (503, "5")
    assert answer["code"] == 14  # google.rpc.Code UNAVAILABLE
