"""The composition under test: the demo service (2 gunicorn workers) and a Celery worker, as local
processes against PostgreSQL and Redis, shipping their logs to a log collector; stopped at the end
of the session, even when a test fails. Logs are kept in ``test-artifacts/acceptance/``.

PostgreSQL is a private server started for the session (see ``private_postgres``), configured like
a production server whose log files are shipped to the collector; only when the PostgreSQL binaries
are missing does the demo use a throw-away database of the shared server (``C2C_TEST_PG_URL``), and
the tests of PostgreSQL's log files are skipped.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from acceptance_tests.tests.private_postgres import PrivatePostgres, missing_reason, private_postgres
from c2cwsgiutils.acceptance import Composition, Connection, retry_timeout
from tests.conftest import pg_admin_url, pg_url, redis_url  # noqa: F401 - shared fixtures
from tests.helpers import ROOT, free_port

HERE = Path(__file__).resolve().parent
SECRET = "acceptance-secret"
SLOW_STATEMENT_MS = 200  # the private server logs the statements slower than this


@dataclass(frozen=True)
class Product:
    """What the tests know of the running composition."""

    composition: Composition
    base_url: str
    collector_url: str
    log_dir: Path
    pg_url: str
    postgres: PrivatePostgres | None  # None: the shared server, whose log files are out of reach
    secret: str = SECRET

    def connection(self) -> Connection:
        return Connection(self.base_url, retries=0)

    def log(self, service: str) -> str:
        return self.composition.logs(service)

    def json_lines(self, service: str) -> list[dict[str, Any]]:
        """The JSON log records a service wrote (its other output, e.g. gunicorn's, is skipped)."""
        records = []
        for line in self.log(service).splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    records.append(json.loads(line))
        return records

    def server_logs(self) -> PrivatePostgres:
        """The private PostgreSQL server (the test is skipped when there is none)."""
        if self.postgres is None:
            pytest.skip(f"PostgreSQL's log files are out of reach: {missing_reason()}")
        return self.postgres


@pytest.fixture(scope="session")
def postgres(log_dir: Path) -> Iterator[PrivatePostgres | None]:
    """The session's private PostgreSQL server; ``None`` when its binaries are missing."""
    if missing_reason():
        yield None
        return
    with private_postgres(free_port(), slow_ms=SLOW_STATEMENT_MS) as server:
        try:
            yield server
        finally:
            shutil.copytree(server.log_dir, log_dir / "postgresql", dirs_exist_ok=True)


@pytest.fixture(scope="session")
def log_dir() -> Path:
    return ROOT / "test-artifacts" / "acceptance" / uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def product(
    request: pytest.FixtureRequest,
    postgres: PrivatePostgres | None,
    redis_url: str,  # noqa: F811 - a fixture by name
    log_dir: Path,
) -> Iterator[Product]:
    run = log_dir.name
    web_port, collector_port, prices_port = free_port(), free_port(), free_port()
    database = postgres.url() if postgres else str(request.getfixturevalue("pg_url"))
    variables = {
        "BIN": str(Path(sys.executable).parent),
        "PG_URL": database,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": f"c2c_acceptance_{run}:",
        "QUEUE": f"acceptance_{run}",
        "SECRET": SECRET,
        "WEB_PORT": str(web_port),
        "COLLECTOR_PORT": str(collector_port),
        "PRICES_PORT": str(prices_port),
        "LOG_DIR": str(log_dir),
    }
    composition = Composition.local(HERE / "composition.yaml", variables=variables, log_dir=log_dir)
    try:
        composition.up()
        yield Product(
            composition,
            f"http://127.0.0.1:{web_port}/",
            f"http://127.0.0.1:{collector_port}/",
            log_dir,
            database,
            postgres,
        )
    finally:
        composition.down()


@pytest.fixture
def connection(product: Product) -> Iterator[Connection]:
    with product.connection() as result:
        yield result


@dataclass(frozen=True)
class TracedRequest:
    """One ``/api/sleep-in-worker`` call (web -> Celery task -> a slow statement)."""

    request_id: str
    task_id: str
    seconds: float


def send_traced_request(product: Product, prefix: str, seconds: float = 0.5) -> TracedRequest:
    """Call the demo with a known request ID; returns once PostgreSQL has logged the slow statement."""
    json_log = product.server_logs().json_log
    request_id = f"{prefix}-{uuid.uuid4().hex}"
    with Connection(product.base_url, retries=0) as sender:
        answer = sender.get_json(
            "api/sleep-in-worker", params={"seconds": str(seconds)}, headers={"X-Request-ID": request_id}
        )
    assert answer["request_id"] == request_id

    def logged() -> None:
        assert request_id in json_log.read_text(encoding="utf-8")

    retry_timeout(logged, timeout=10, interval=0.1)  # the server's logger process writes it soon after
    return TracedRequest(request_id, answer["task_id"], seconds)


def logs_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``c2cwsgiutils-logs ARGS``; fails the test when it does not exit with 0."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "c2cwsgiutils-logs"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


TRACED_SERVICES = {"demo-web", "demo-worker", "postgresql"}


def _last_records_arrived(records: list[dict[str, Any]]) -> bool:
    """Whether the last record each process writes for ``/api/sleep-in-worker`` is there.

    A process sends its records in order: with its last one, every earlier one is there too. The
    web process ends with its request span; the worker with Celery's "succeeded" line.
    """
    web_done = any(r["service"] == "demo-web" and r["data"].get("span_name") == "request" for r in records)
    task_done = any(r["name"] == "celery.app.trace" and "succeeded" in r["message"] for r in records)
    return web_done and task_done


def request_view(collector_url: str, request_id: str) -> dict[str, Any]:
    """``GET /api/v1/request/{id}`` of a ``send_traced_request`` once every record of it arrived."""

    def gathered() -> dict[str, Any]:
        with Connection(collector_url, retries=0) as collector:
            view: dict[str, Any] = collector.get_json(f"api/v1/request/{request_id}")
        records = view["records"]
        assert {record["service"] for record in records} >= TRACED_SERVICES
        assert _last_records_arrived(records)
        return view

    return retry_timeout(gathered, timeout=15, interval=0.2)


@pytest.fixture(scope="session")
def traced_request(product: Product) -> TracedRequest:
    """A request whose slow statement was ingested from PostgreSQL's ``jsonlog`` file."""
    request = send_traced_request(product, "traced")
    logs_cli("ingest", "--url", product.collector_url, str(product.server_logs().json_log))
    return request
