"""Database set-up, all in one place: engine, tables, ``request.dbsession`` bound to pyramid_tm.

``sqlalchemy.url`` (in production.ini: ``%(SQLALCHEMY_URL)s``) chooses the database; empty means
an SQLite file ``var/c2cwsgiutils_demo.sqlite`` under the current directory.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import zope.sqlalchemy
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

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


def get_tm_session(session_factory: sessionmaker[Session], transaction_manager: Any) -> Session:
    """A session joined to the request's transaction (committed or aborted by pyramid_tm)."""
    session = session_factory()
    zope.sqlalchemy.register(session, transaction_manager=transaction_manager)
    return session


def includeme(config: Any) -> None:
    """Pyramid include: pyramid_tm, the engine, the tables and ``request.dbsession``."""
    settings = config.get_settings()
    settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    config.include("pyramid_tm")

    engine = get_engine(settings)
    create_tables(engine)
    session_factory = sessionmaker(bind=engine)
    config.registry["dbsession_factory"] = session_factory
    config.registry["dbengine"] = engine

    def dbsession(request: Any) -> Session:
        return get_tm_session(session_factory, request.tm)

    config.add_request_method(dbsession, reify=True)
