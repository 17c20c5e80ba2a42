"""The composition under test: the demo service (2 gunicorn workers) and a Celery worker, as local
processes against the real PostgreSQL and Redis; stopped at the end of the session, even when a
test fails. Logs are kept in ``test-artifacts/acceptance/``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from c2cwsgiutils.acceptance import Composition, Connection
from tests.conftest import pg_admin_url, pg_url, redis_url  # noqa: F401 - shared fixtures
from tests.helpers import ROOT, free_port

HERE = Path(__file__).resolve().parent
SECRET = "acceptance-secret"


@dataclass(frozen=True)
class Product:
    """What the tests know of the running composition."""

    composition: Composition
    base_url: str
    collector_url: str
    log_dir: Path
    pg_url: str
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


@pytest.fixture(scope="session")
def product(pg_url: str, redis_url: str) -> Iterator[Product]:  # noqa: F811 - fixtures by name
    run = uuid.uuid4().hex[:8]
    log_dir = ROOT / "test-artifacts" / "acceptance" / run
    web_port, collector_port = free_port(), free_port()
    variables = {
        "BIN": str(Path(sys.executable).parent),
        "PG_URL": pg_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": f"c2c_acceptance_{run}:",
        "QUEUE": f"acceptance_{run}",
        "SECRET": SECRET,
        "WEB_PORT": str(web_port),
        "COLLECTOR_PORT": str(collector_port),
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
            pg_url,
        )
    finally:
        composition.down()


@pytest.fixture
def connection(product: Product) -> Iterator[Connection]:
    with product.connection() as result:
        yield result
