"""Fixtures of the collector tests: a storage URL per backend and a WebTest app on it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import webtest
from sqlalchemy.engine import make_url

from c2cwsgiutils.collector.http.app import create_app
from c2cwsgiutils.collector.http.app_state import get_state
from tests.collector.tcp_proxy import TcpProxy

CHDB_MISSING = (
    "chdb is not installed: the ClickHouse backend tests need pip install 'c2cwsgiutils[clickhouse]'"
)


@pytest.fixture
def chdb_url() -> Iterator[str]:
    """An embedded ClickHouse database (chdb, in memory) of its own, dropped afterwards."""
    pytest.importorskip("chdb", reason=CHDB_MISSING)
    from c2cwsgiutils.collector.storage.backends import open_storage

    url = f"chdb://?database=c2c_test_{uuid.uuid4().hex[:12]}"
    yield url
    storage = open_storage(url)
    storage.client.command(f"DROP DATABASE IF EXISTS {storage.database}")  # type: ignore[attr-defined]
    storage.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "clickhouse"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty collector database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'collector.sqlite'}"
        return
    if request.param == "clickhouse":
        from c2cwsgiutils.collector.storage.backends import migrate

        url = request.getfixturevalue("chdb_url")
        migrate(url)
        yield url
        return
    url = request.getfixturevalue("pg_url")
    from c2cwsgiutils.collector.storage.backends import migrate

    migrate(url)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("TRUNCATE c2c_log_record RESTART IDENTITY"))
    engine.dispose()
    yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite collector database file (created on first use)."""
    return f"sqlite:///{tmp_path / 'collector.sqlite'}"


@pytest.fixture
def make_app() -> Iterator[Callable[..., webtest.TestApp]]:
    """Build collector apps with ini settings; their connections are closed afterwards."""
    apps: list[webtest.TestApp] = []

    def make(db_url: str, **settings: Any) -> webtest.TestApp:
        ini = {"c2c.collector.db_url": db_url}
        ini.update({f"c2c.collector.{key}": value for key, value in settings.items()})
        app = webtest.TestApp(create_app(ini))
        apps.append(app)
        return app

    yield make
    for app in apps:
        get_state(app.app.registry).close()


@pytest.fixture
def app(db_url: str, make_app: Callable[..., webtest.TestApp]) -> webtest.TestApp:
    """An open (no credentials) collector on each backend."""
    return make_app(db_url)


@pytest.fixture
def pg_proxy(pg_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """The test database behind a TCP proxy that a test stops (an outage) and starts again."""
    url = make_url(pg_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    yield proxy, url.set(port=proxy.port).render_as_string(hide_password=False)
    proxy.stop()
