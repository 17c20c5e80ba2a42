"""Database set-up, all in one place: engines, tables, ``request.dbsession`` bound to pyramid_tm.

``sqlalchemy.url`` (in production.ini: ``%(SQLALCHEMY_URL)s``) chooses the database; empty means
an SQLite file ``var/c2cwsgiutils_demo.sqlite`` under the current directory.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc

from c2cwsgiutils.db import setup_session
from c2cwsgiutils_demo.models import Base

DEFAULT_SQLITE_FILE = Path("var") / "c2cwsgiutils_demo.sqlite"


def database_url(settings: dict[str, Any]) -> str:
    """The configured database URL, or the SQLite default (its directory is created)."""
    url = str(settings.get("sqlalchemy.url") or "").strip()
    if url:
        return url
    path = DEFAULT_SQLITE_FILE.absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_sleep(seconds: float) -> float:
    time.sleep(float(seconds))
    return float(seconds)


def _prepare_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    del connection_record
    if isinstance(dbapi_connection, sqlite3.Connection):
        # SQLite has no pg_sleep(): give it a sleep() so that /api/sleep-in-web works on both.
        dbapi_connection.create_function("sleep", 1, _sqlite_sleep)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # several gunicorn workers share the file
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def get_engine(settings: dict[str, Any]) -> Engine:
    """An engine for the configured database."""
    url = database_url(settings)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _prepare_sqlite)
    return engine


def create_tables(engine: Engine, attempts: int = 3) -> None:
    """Create the missing tables (workers start together: a concurrent creation is retried)."""
    for attempt in range(attempts):
        try:
            Base.metadata.create_all(engine)
            return
        except exc.DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def includeme(config: Any) -> None:
    """Pyramid include: read-write and read-only engines, the tables and ``request.dbsession``.

    ``c2cwsgiutils.db.setup_session`` builds both engines from the ``sqlalchemy.*`` and
    ``sqlalchemy_slave.*`` keys (the read-only one only when ``sqlalchemy_slave.url`` is set), routes
    GET/HEAD/OPTIONS to the read-only engine, joins ``request.dbsession`` to pyramid_tm, and tags
    every statement with the request ID when ``C2C_SQL_REQUEST_ID`` is on.
    """
    settings = config.get_settings()
    settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    settings["sqlalchemy.url"] = database_url(settings)
    setup = setup_session(config, "sqlalchemy", "sqlalchemy_slave")
    for engine in {setup.read_write_engine, setup.read_only_engine}:
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _prepare_sqlite)
    create_tables(setup.read_write_engine)
    config.registry["dbsession_factory"] = setup.session_factory
    config.registry["dbengine"] = setup.read_write_engine
