"""Fixtures for the real services the suite talks to (PostgreSQL, Redis) and for real processes.

``C2C_TEST_PG_URL`` (an admin connection, default ``postgresql://postgres@127.0.0.1:5432/postgres``)
and ``C2C_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) point the suite elsewhere. A
throw-away database is created per test run and dropped afterwards. An unreachable service makes
the tests that need it fail with a message saying how to start it: they are never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.helpers import free_port  # noqa: F401 - re-exported for test modules

# The admin views of the debug, log-level and SQL-profiler features are off unless switched on
# (6.x's defaults); the suite tests them, so it switches them on, for its own processes and their
# children (tests/test_v6_settings.py checks the defaults with the variables removed).
for _switch in ("C2C_DEBUG_VIEW_ENABLED", "C2C_LOG_VIEW_ENABLED", "C2C_SQL_PROFILER_ENABLED"):
    os.environ.setdefault(_switch, "true")

PG_ADMIN_URL = os.environ.get("C2C_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("C2C_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

PG_HINT = (
    "PostgreSQL is not reachable at C2C_TEST_PG_URL={url} ({error}). Start it with "
    "'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' or point "
    "C2C_TEST_PG_URL at a server where the user may create databases."
)
REDIS_HINT = (
    "Redis is not reachable at C2C_TEST_REDIS_URL={url} ({error}). Start it with "
    "'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no' or point "
    "C2C_TEST_REDIS_URL at a running server."
)


def _with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """An admin connection URL to the test PostgreSQL server (checked reachable)."""
    import psycopg2  # type: ignore[import-untyped]  # no stubs

    try:
        psycopg2.connect(
            PG_ADMIN_URL.replace("postgresql+psycopg2://", "postgresql://"), connect_timeout=3
        ).close()
    except psycopg2.OperationalError as exc:
        pytest.fail(PG_HINT.format(url=PG_ADMIN_URL, error=str(exc).strip().splitlines()[0]), pytrace=False)
    return PG_ADMIN_URL


@pytest.fixture(scope="session")
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """URL of a database created for this test run and dropped afterwards."""
    import psycopg2

    name = f"c2c_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(pg_admin_url, connect_timeout=3)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(pg_admin_url, name)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis URL (checked reachable)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        pytest.fail(REDIS_HINT.format(url=REDIS_URL, error=exc), pytrace=False)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key/channel prefix unique to this test; its keys are deleted afterwards."""
    import redis

    prefix = f"c2c_test_{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(autouse=True)
def _reset_broadcast() -> Iterator[None]:
    """Each test starts and ends with the in-process broadcast backend."""
    yield
    from c2cwsgiutils import broadcast

    broadcast.shutdown()
