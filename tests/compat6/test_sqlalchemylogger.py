"""6.x's SQLAlchemyHandler: log records written to a database table, created when missing."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from c2cwsgiutils.sqlalchemylogger.handlers import SQLAlchemyHandler


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger(f"c2c_test_sqlalchemylogger.{uuid.uuid4().hex[:8]}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def _rows(url: str, table: str) -> list[tuple[str | None, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            result = connection.exec_driver_sql(f"SELECT logger, level, msg, trace FROM {table} ORDER BY id")
            return [tuple(row) for row in result]
    finally:
        engine.dispose()


def test_records_are_written_to_a_new_sqlite_table(tmp_path: Path, logger: logging.Logger) -> None:
    url = f"sqlite:///{tmp_path / 'logs.sqlite3'}"
    handler = SQLAlchemyHandler({"url": url}, does_not_contain_expression="curl")
    logger.addHandler(handler)
    logger.info("hello %s", "world")
    logger.info("GET /health by curl/8.0")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    handler.flush()
    rows = _rows(url, "logs")
    assert handler.session.execute(sa.text("SELECT count(*) FROM logs")).scalar() == 2  # 6.x attribute
    assert [row[:3] for row in rows] == [
        (logger.name, "INFO", "hello world"),
        (logger.name, "ERROR", "failed"),
    ]
    assert rows[0][3] is None
    assert "ValueError: boom" in str(rows[1][3])


def test_postgresql_database_schema_and_table_are_created(pg_admin_url: str, logger: logging.Logger) -> None:
    database = f"c2c_test_logs_{uuid.uuid4().hex[:8]}"
    url = sa.engine.make_url(pg_admin_url).set(database=database).render_as_string(hide_password=False)
    handler = SQLAlchemyHandler(
        {"url": url, "tablename": "app_logs", "tableargs": {"schema": "xyz"}}, contains_expression="^keep"
    )
    logger.addHandler(handler)
    try:
        logger.warning("keep this")
        logger.warning("not that")
        handler.flush()
        assert _rows(url, "xyz.app_logs") == [(logger.name, "WARNING", "keep this", None)]
    finally:
        logger.removeHandler(handler)
        handler.close()
        admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.dispose()


def test_a_full_queue_drops_records_instead_of_blocking(tmp_path: Path, logger: logging.Logger) -> None:
    handler = SQLAlchemyHandler({"url": f"sqlite:///{tmp_path / 'logs.sqlite3'}"})
    handler._queue.maxsize = 1  # white-box: the writer has not taken anything yet at this point
    handler._stop.set()  # the writer stops; nothing drains the queue any more
    handler._thread.join(5)
    logger.addHandler(handler)
    logger.info("one")
    logger.info("two")
    assert handler.dropped == 1
