"""`c2cwsgiutils-logs` for real: gunicorn workers, HTTPHandler, keep-alive NDJSON, start-up checks."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.collector.records import ndjson, ship_with_httphandler, wire
from tests.collector.serve import serve_collector

TOKENS = "logger:writer:pw,ui:reader:rd"


@pytest.fixture(scope="module", params=["granian", "gunicorn"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, Path]]:
    directory = tmp_path_factory.mktemp("server")
    with serve_collector(
        directory, "--workers", "2", "--server", request.param, env={"C2C_COLLECTOR_TOKENS": TOKENS}
    ) as port:
        yield port, directory


def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    token = base64.b64encode(b"ui:rd").decode()
    connection.request("GET", path, headers={"Authorization": f"Basic {token}"})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, dict(response.headers), body


def test_stdlib_httphandler_records_are_stored(server: tuple[int, Path]) -> None:
    port, _ = server
    name = "tests.collector.server.httphandler"
    ship_with_httphandler(port, name, "shipped %s", "by HTTPHandler", order=17)
    status, _, body = _get(port, "/api/v1/record?name=tests.collector.server.httphandler")
    records = json.loads(body)
    assert (status, records[0]["message"], records[0]["level"]) == (200, "shipped by HTTPHandler", 30)


def test_gzip_ndjson_batches_over_one_keepalive_connection(server: tuple[int, Path]) -> None:
    port, _ = server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    answers = []
    for batch in range(3):
        body = gzip.compress(
            ndjson(*(wire(f"keepalive {batch}", logger_name="tests.keepalive") for _ in range(100)))
        )
        connection.request(
            "POST",
            "/api/v1/record",
            body,
            headers={
                "Content-Type": "application/x-ndjson",
                "Content-Encoding": "gzip",
                "Authorization": "Bearer pw",
            },
        )
        response = connection.getresponse()
        answers.append((response.status, json.loads(response.read())["stored"]))
    connection.close()
    assert answers == [(201, 100)] * 3
    assert _get(port, "/api/v1/record?name=tests.keepalive&left=0&right=1")[0] == 200


def test_records_are_counted_after_acknowledgement(server: tuple[int, Path]) -> None:
    port, _ = server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(
        "POST",
        "/api/v1/record",
        ndjson(wire(logger_name="tests.ack")),
        headers={"Content-Type": "application/x-ndjson", "X-API-Key": "pw"},
    )
    response = connection.getresponse()
    response.read()
    assert response.status == 201
    connection.request("HEAD", "/api/v1/record?name=tests.ack", headers={"X-API-Key": "rd"})
    assert connection.getresponse().headers["X-Record-Count"] == "1"
    connection.close()


def test_serve_refuses_a_public_address_without_credentials(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "c2cwsgiutils.collector.cli",
            "serve",
            "--host",
            "0.0.0.0",
            "--db-url",
            f"sqlite:///{tmp_path / 'x.sqlite'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in __import__("os").environ.items() if not k.startswith("C2C_COLLECTOR_")},
        check=False,
    )
    assert (result.returncode, "Refusing to listen on '0.0.0.0' without credentials" in result.stderr) == (
        2,
        True,
    )


def test_migrate_command_creates_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    subprocess.run(
        [sys.executable, "-m", "c2cwsgiutils.collector.cli", "migrate", "--db-url", url],
        check=True,
        timeout=60,
    )
    assert "c2c_log_record" in sa.inspect(sa.create_engine(url)).get_table_names()


def test_hash_secret_prints_a_pbkdf2_hash() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "c2cwsgiutils.collector.cli", "hash-secret"],
        input="s3cret\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.startswith("pbkdf2_sha256$")
