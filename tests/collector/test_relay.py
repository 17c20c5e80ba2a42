"""Relay collectors (``serve --forward``): durable spool, forwarding, upstream and relay crashes."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import logging.handlers
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import webtest

from c2cwsgiutils.collector.http.app import create_app
from c2cwsgiutils.collector.intake import ingest
from c2cwsgiutils.collector.relay import forward
from c2cwsgiutils.collector.relay.forward import get_relay
from c2cwsgiutils.logging.spool import Spool
from tests.collector.records import httphandler_form, ndjson, wire
from tests.helpers import child_env, free_port, start_process, stop_process, wait_for, wait_port

UPSTREAM_TOKENS = "relay:writer:up,ui:reader:rd"
RELAY_TOKENS = "logger:writer:pw"
DRAIN_SECONDS = 40.0
SERVE = ("python", "-m", "c2cwsgiutils.collector.cli", "serve", "--port")


# ---- in-process relay (WebTest) -------------------------------------------------------------


@pytest.fixture
def relay_app(tmp_path: Path) -> Iterator[tuple[webtest.TestApp, Path]]:
    """A relay forwarding to a port where nothing listens: everything stays in its spool."""
    spool = tmp_path / "spool"
    app = webtest.TestApp(
        create_app(
            {
                "c2c.collector.forward_url": f"http://127.0.0.1:{free_port()}",
                "c2c.collector.forward_spool_dir": str(spool),
                "c2c.collector.forward_spool_max_bytes": "4096",
            }
        )
    )
    yield app, spool
    get_relay(app.app.registry).close(0.1)


def _spooled(spool: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(spool.glob("*.ndjson"))
        for line in path.read_text().splitlines()
        if line
    ]


def test_relay_reads_answer_a_json_502_when_the_upstream_is_unreachable(
    relay_app: tuple[webtest.TestApp, Path],
) -> None:
    app, _ = relay_app
    paths = ("/api/v1/record", "/api/v1/record/1", "/api/v1/request/abc", "/api/v1/stream", "/api/v1/status")
    answers = [app.get(path, status="*") for path in paths]
    assert [(a.status_int, a.json["type"]) for a in answers] == [(502, "upstream_unreachable")] * 5
    assert "cannot reach the upstream collector http://127.0.0.1:" in answers[0].json["message"]


def test_relay_openapi_document_says_reads_are_answered_upstream(
    relay_app: tuple[webtest.TestApp, Path],
) -> None:
    app, _ = relay_app
    document = app.get("/api/v1/openapi.json").json
    record = document["paths"]["/api/v1/record"]
    assert "answered by that upstream collector" in document["info"]["description"]
    assert {"502", "504"} <= set(record["get"]["responses"]) & set(record["head"]["responses"])
    assert "503" in record["post"]["responses"]
    assert "502" in document["paths"]["/api/v1/stream"]["get"]["responses"]


def test_relay_answers_the_liveness_probe(relay_app: tuple[webtest.TestApp, Path]) -> None:
    app, _ = relay_app
    answer = app.get("/health")  # Chronologer's probe, as a collector answers it
    assert (answer.status_int, answer.body) == (200, b"OK")


def test_relay_serves_the_web_ui(relay_app: tuple[webtest.TestApp, Path]) -> None:
    app, _ = relay_app
    page = app.get("/")
    assert (page.status_int, b'src="ui/app.js"' in page.body) == (200, True)


def test_relay_spools_form_and_json_records_with_a_key(relay_app: tuple[webtest.TestApp, Path]) -> None:
    app, spool = relay_app
    app.post("/api/v1/record", httphandler_form(), content_type="application/x-www-form-urlencoded")
    record = wire("object")
    del record["c2c_uuid"]
    app.post("/api/v1/record", json.dumps(record, indent=2), content_type="application/json")
    lines = _spooled(spool)
    messages = [(line.get("message", line["msg"]), len(line["c2c_uuid"])) for line in lines]
    assert messages == [("hello world", 32), ("object", 32)]
    assert lines[0]["msg"] == "hello %s"  # a form's template travels beside its message


def test_relay_forwards_the_client_key_scoped_to_the_client(relay_app: tuple[webtest.TestApp, Path]) -> None:
    app, spool = relay_app
    record = wire("kept", uuid="user data")
    app.post("/api/v1/record", ndjson(record), content_type="application/x-ndjson", status=201)
    lines = _spooled(spool)
    assert [(line["c2c_uuid"], line["uuid"]) for line in lines] == [
        (ingest.scoped_key("", record["c2c_uuid"]), "user data")
    ]


def test_relay_keeps_form_extras_whose_names_the_schema_takes(
    relay_app: tuple[webtest.TestApp, Path],
) -> None:
    app, spool = relay_app
    form = httphandler_form("m", (), level="user level", host="user host", file="user file", n="7")
    app.post("/api/v1/record", form, content_type="application/x-www-form-urlencoded", status=201)
    (line,) = _spooled(spool)
    assert "host" not in line
    assert (line["file"], line["c2c_extra"]) == (
        "/src/mod.py",
        {"level": "user level", "host": "user host", "file": "user file"},
    )
    assert line["n"] == 7


def test_relay_reports_invalid_lines_and_spools_the_valid_ones(
    relay_app: tuple[webtest.TestApp, Path],
) -> None:
    app, spool = relay_app
    body = ndjson(wire("good")) + b"{not json\n" + ndjson(wire("also good"))
    answer = app.post("/api/v1/record", body, content_type="application/x-ndjson", status=207)
    assert (answer.json["stored"], [e["line"] for e in answer.json["errors"]], len(_spooled(spool))) == (
        2,
        [2],
        2,
    )


def test_relay_answers_503_and_keeps_nothing_when_the_spool_is_full(
    relay_app: tuple[webtest.TestApp, Path],
) -> None:
    app, spool = relay_app
    body = ndjson(*(wire(f"too much {n}") for n in range(20)))  # about 12 kB, the spool holds 4 kB
    answer = app.post("/api/v1/record", body, content_type="application/x-ndjson", status="*")
    assert (answer.status_int, answer.json["type"], answer.headers["Retry-After"], _spooled(spool)) == (
        503,
        "spool_full",
        "5",
        [],
    )


# ---- real processes ----------------------------------------------------------------------------


class Cluster:
    """An upstream collector (SQLite) and a relay (2 granian workers) forwarding to it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.upstream_port = free_port()
        self.relay_port = free_port()
        self.spool = directory / "spool"
        self.upstream: subprocess.Popen[bytes] | None = None
        self.relay: subprocess.Popen[bytes] | None = None

    def start_upstream(self) -> None:
        db_url = f"sqlite:///{self.directory / 'upstream.sqlite'}"
        self.upstream = start_process(
            [*SERVE, str(self.upstream_port), "--db-url", db_url, "--workers", "1"],
            env={"C2C_COLLECTOR_TOKENS": UPSTREAM_TOKENS},
            log=self.directory / "upstream.log",
        )
        wait_port(self.upstream_port, process=self.upstream)

    def start_relay(self, server: str = "granian") -> None:
        self.relay = start_process(
            [
                *SERVE,
                str(self.relay_port),
                "--workers",
                "2",
                "--server",
                server,
                "--forward",
                f"http://127.0.0.1:{self.upstream_port}",
            ],
            env={
                "C2C_COLLECTOR_TOKENS": RELAY_TOKENS,
                "C2C_COLLECTOR_FORWARD_TOKEN": "up",
                "C2C_COLLECTOR_FORWARD_SPOOL_DIR": str(self.spool),
                "C2C_COLLECTOR_FORWARD_BATCH_AGE": "0.05",
            },
            log=self.directory / "relay.log",
        )
        wait_port(self.relay_port, process=self.relay)

    @staticmethod
    def kill(process: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
        assert process is not None
        os.killpg(process.pid, sig)
        process.wait(20)

    def upstream_count(self) -> int:
        status, headers, _ = _request(self.upstream_port, "HEAD", "/api/v1/record")
        assert status == 200
        return int(headers["X-Record-Count"])

    def upstream_uuids(self) -> list[str]:
        uuids: list[str] = []
        while True:
            query = urllib.parse.urlencode({"left": len(uuids), "right": len(uuids) + 999})
            _, _, body = _request(self.upstream_port, "GET", f"/api/v1/record?{query}")
            page = json.loads(body)
            uuids.extend(record["uuid"] for record in page)
            if len(page) < 1000:
                return uuids

    def wait_drained(self, expected: int) -> int:
        """The upstream's count once it holds ``expected`` records and the relay stopped: nothing
        can be forwarded after that, so a record forwarded twice is counted by then."""
        wait_for(lambda: self.upstream_count() >= expected, DRAIN_SECONDS, f"{expected} records upstream")
        assert self.relay is not None
        stop_process(self.relay)  # SIGTERM: it forwards what it still holds, then exits
        return self.upstream_count()

    def close(self) -> None:
        for process in (self.relay, self.upstream):
            if process is not None:
                stop_process(process)


def _request(port: int, method: str, path: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    token = base64.b64encode(b"ui:rd").decode()
    connection.request(method, path, headers={"Authorization": f"Basic {token}"})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, response.headers, body


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    result = Cluster(tmp_path)
    yield result
    result.close()


class NdjsonLoad(threading.Thread):
    """Posts NDJSON batches of 20 records (2 of them without uuid) until stopped."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stopping = threading.Event()
        self.acknowledged: list[str] = []  # uuids of the records answered 2xx
        self.anonymous = 0  # records without uuid answered 2xx
        self.failures: list[str] = []

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        batch = 0
        while not self.stopping.is_set():
            records = [wire(f"load {batch}.{n}", logger_name="tests.relay.load") for n in range(20)]
            for record in records[:2]:
                del record["c2c_uuid"]
            headers = {"Content-Type": "application/x-ndjson", "Authorization": "Bearer pw"}
            try:
                connection.request("POST", "/api/v1/record", ndjson(*records), headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(repr(exc))
                connection.close()
                continue
            if response.status // 100 == 2:
                # As the upstream stores them: scoped to the client, then to the relay.
                self.acknowledged.extend(
                    ingest.scoped_key("relay", ingest.scoped_key("logger", record["c2c_uuid"]))
                    for record in records[2:]
                )
                self.anonymous += 2
            else:
                self.failures.append(str(response.status))
            batch += 1
            time.sleep(0.002)
        connection.close()

    @property
    def count(self) -> int:
        return len(self.acknowledged) + self.anonymous


class CheckedHTTPHandler(logging.handlers.HTTPHandler):
    """The stdlib's HTTPHandler (its own emit and form), keeping the status of each answer."""

    def __init__(self, port: int) -> None:
        super().__init__(f"127.0.0.1:{port}", "/api/v1/record", "POST", credentials=("logger", "pw"))
        self.statuses: list[int] = []
        self.errors = 0

    def getConnection(self, host: str, secure: bool) -> http.client.HTTPConnection:
        connection = super().getConnection(host, secure)
        getresponse = connection.getresponse

        def read_and_close() -> http.client.HTTPResponse:
            response = getresponse()
            response.read()
            self.statuses.append(response.status)
            connection.close()
            return response

        connection.getresponse = read_and_close  # type: ignore[method-assign]
        return connection

    def handleError(self, record: logging.LogRecord) -> None:
        self.errors += 1


class HandlerLoad(threading.Thread):
    """Logs through the stdlib HTTPHandler until stopped."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.handler = CheckedHTTPHandler(port)
        self.stopping = threading.Event()
        self.logger = logging.getLogger("tests.relay.httphandler")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)

    def run(self) -> None:
        self.logger.addHandler(self.handler)
        try:
            number = 0
            while not self.stopping.is_set():
                self.logger.info("through HTTPHandler %d", number)
                number += 1
                time.sleep(0.005)
        finally:
            self.logger.removeHandler(self.handler)

    @property
    def count(self) -> int:
        return sum(1 for status in self.handler.statuses if status // 100 == 2)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_upstream_restarted_under_load_stores_every_acknowledged_record_once(
    cluster: Cluster, sig: signal.Signals
) -> None:
    cluster.start_upstream()
    cluster.start_relay()
    load, handler_load = NdjsonLoad(cluster.relay_port), HandlerLoad(cluster.relay_port)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        load.start()
        handler_load.start()
        wait_for(lambda: load.count >= 400 and handler_load.count >= 20)
        cluster.kill(cluster.upstream, sig)
        during_outage = load.count
        wait_for(lambda: load.count >= during_outage + 600)
        spooled = sum(path.stat().st_size for path in cluster.spool.glob("*.ndjson"))
        cluster.start_upstream()
        resumed, stored_before = load.count, cluster.upstream_count()
        wait_for(
            lambda: load.count >= resumed + 200 and cluster.upstream_count() > stored_before,
            30,
            "forwarding under load again after the restart",
        )
        load.stopping.set()
        handler_load.stopping.set()
        load.join(30)
        handler_load.join(30)
    expected = load.count + handler_load.count
    stored = cluster.wait_drained(expected)
    uuids = cluster.upstream_uuids()
    assert spooled > 0
    assert (load.failures, handler_load.handler.errors) == ([], 0)
    assert (stored, len(uuids), len(set(uuids))) == (expected, expected, expected)
    assert set(load.acknowledged) <= set(uuids)


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_relay_killed_resends_its_spool_when_restarted(cluster: Cluster, server: str) -> None:
    cluster.start_relay(server)  # the upstream is not running yet: everything stays in the spool
    load = NdjsonLoad(cluster.relay_port)
    load.start()
    wait_for(lambda: load.count >= 500)
    load.stopping.set()
    load.join(30)
    cluster.kill(cluster.relay, signal.SIGKILL)
    cluster.start_relay(server)
    cluster.start_upstream()
    stored = cluster.wait_drained(load.count)
    uuids = cluster.upstream_uuids()
    assert (stored, len(set(uuids)), load.failures) == (load.count, load.count, [])
    assert set(load.acknowledged) <= set(uuids)


def test_concurrent_durable_appends_all_land_in_the_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 10**8, segment_bytes=4096)  # small segments: rotations too
    spool.open()

    def append(thread: int) -> list[bool]:
        return [spool.append_durable([f'{{"t":{thread},"n":{n}}}']) for n in range(50)]

    with ThreadPoolExecutor(8) as pool:
        results = [ok for oks in pool.map(append, range(8)) for ok in oks]
    spool.close()
    lines = _spooled(tmp_path / "spool")
    per_thread = {t: [line["n"] for line in lines if line["t"] == t] for t in range(8)}
    assert (all(results), per_thread) == (True, {t: list(range(50)) for t in range(8)})


def test_serve_refuses_a_forward_url_that_is_not_http(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, *SERVE[1:-1], "--port", str(free_port()), "--forward", "ftp://logs.example.com"],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env({"C2C_COLLECTOR_FORWARD_SPOOL_DIR": str(tmp_path / "spool")}),
        check=False,
    )
    assert (result.returncode, "collector URL must be http(s)://" in result.stderr) == (2, True)


def test_the_upstream_stores_a_relayed_form_as_the_relay_parsed_it() -> None:
    row = ingest.parse_form(ingest.form_fields(httphandler_form(level="user level").encode()))
    upstream = ingest.parse_line(forward.row_to_line(row).encode(), 0.0)
    assert (upstream[1:-1], json.loads(upstream[-1])) == (row[1:-1], json.loads(row[-1]))
    assert json.loads(upstream[-1])["msg"] == "hello %s"  # the template, beside the message
