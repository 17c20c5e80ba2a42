"""Engines on the test database whose DBAPI cursors record every statement they send."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import psycopg2.extensions  # type: ignore[import-untyped]  # no stubs
import pytest
import sqlalchemy

SENT: list[str] = []


class RecordingCursor(psycopg2.extensions.cursor):  # type: ignore[misc]
    def execute(self, query: Any, vars: Any = None) -> Any:
        SENT.append(query if isinstance(query, str) else query.as_string(self))
        return super().execute(query, vars)


class RecordingCursor3(psycopg.Cursor):
    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        SENT.append(query if isinstance(query, str) else query.as_string(self))
        return super().execute(query, params, **kwargs)


def count_sets(statements: list[str]) -> int:
    return sum("set_config('application_name'" in s for s in statements)


@pytest.fixture
def sent() -> Iterator[list[str]]:
    """The statements sent by the recording engines during the test (real driver round trips)."""
    SENT.clear()
    yield SENT
    SENT.clear()


@pytest.fixture
def make_engine(pg_url: str) -> Iterator[Callable[..., sqlalchemy.Engine]]:
    """``make_engine(driver="psycopg2")``: an engine on the test database, disposed afterwards."""
    engines: list[sqlalchemy.Engine] = []

    def make(driver: str = "psycopg2", **kwargs: Any) -> sqlalchemy.Engine:
        url = sqlalchemy.make_url(pg_url).set(drivername=f"postgresql+{driver}")
        factory = RecordingCursor if driver == "psycopg2" else RecordingCursor3
        engine = sqlalchemy.create_engine(url, connect_args={"cursor_factory": factory}, **kwargs)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture(autouse=True)
def _no_automatic_instrumentation() -> Iterator[None]:
    """Includes that turn tagging or the profiler on instrument new engines process-wide: undo it."""
    yield
    from c2cwsgiutils import sql

    sql.stop_instrumenting_new_engines()
