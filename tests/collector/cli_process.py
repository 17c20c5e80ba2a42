"""A real collector process and the ``c2cwsgiutils-logs`` console script, for the CLI tests."""

from __future__ import annotations

import gzip
import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import child_env, free_port, stop_process, wait_port

TOKEN = "s3cret-admin"
SCRIPT = str(Path(sys.executable).parent / "c2cwsgiutils-logs")


@dataclass
class Collector:
    """A running collector: its URL, and helpers to call it directly."""

    url: str
    port: int
    directory: Path

    def env(self) -> dict[str, str]:
        """The environment that points the CLI at this collector."""
        return child_env({"C2C_COLLECTOR_URL": self.url, "C2C_COLLECTOR_TOKEN": TOKEN})

    def call(self, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, Any]:
        """(status, decoded JSON or headers for HEAD) of one API call."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(
                method, path, body=body, headers={"Authorization": f"Bearer {TOKEN}", **headers}
            )
            response = connection.getresponse()
            data = response.read()
            if method == "HEAD":
                return response.status, {k.lower(): v for k, v in response.headers.items()}
            return response.status, json.loads(data) if data else None
        finally:
            connection.close()

    def post(self, *records: dict[str, Any]) -> None:
        """Store records through the NDJSON batch endpoint."""
        body = gzip.compress("\n".join(json.dumps(r) for r in records).encode())
        status, answer = self.call(
            "POST",
            "/api/v1/record",
            body,
            **{"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
        )
        assert status == 201, answer

    def count(self, query: str) -> int:
        """Number of records matching a filter-language query."""
        import urllib.parse

        _, headers = self.call("HEAD", "/api/v1/record?" + urllib.parse.urlencode({"query": query}))
        return int(headers["x-record-count"])


def start_collector(directory: Path) -> tuple[Collector, subprocess.Popen[bytes]]:
    """Start ``c2cwsgiutils-logs serve`` on a free port with a SQLite file in ``directory``."""
    port = free_port()
    with open(directory / "server.log", "wb") as log:
        process = subprocess.Popen(
            [
                SCRIPT,
                "serve",
                "--port",
                str(port),
                "--db-url",
                f"sqlite:///{directory / 'c.sqlite'}",
                "--workers",
                "1",
            ],
            env=child_env({"C2C_COLLECTOR_TOKENS": f"admin:admin:{TOKEN}"}),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_port(port, process=process)
    return Collector(f"http://127.0.0.1:{port}", port, directory), process


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    """One collector process for the module (tests use their own request ids and services)."""
    found, process = start_collector(tmp_path_factory.mktemp("collector"))
    try:
        yield found
    finally:
        stop_process(process)


def logs(
    collector: Collector, *args: str, stdin: bytes | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run ``c2cwsgiutils-logs ARGS`` against ``collector``."""
    return subprocess.run(
        [SCRIPT, *args],
        env=collector.env(),
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
