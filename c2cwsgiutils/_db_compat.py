"""The database API of c2cwsgiutils 6.x, on top of :mod:`c2cwsgiutils.db`.

``init`` (``request.dbsession`` + a session factory), ``SessionFactory`` (``factory(request)`` or
``factory(None, readwrite=True)``), ``create_session`` and the script helpers ``get_engine`` /
``get_session_factory`` / ``get_tm_session`` keep their 6.x signatures and behaviour; they share
the engines, the routing rule and the instrumentation of :func:`c2cwsgiutils.db.setup_session`.
Re-exported by :mod:`c2cwsgiutils.db`, where applications import them from.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy
import sqlalchemy.orm
from sqlalchemy.engine import Engine

__all__ = [
    "SessionFactory",
    "Tweens",
    "create_session",
    "get_engine",
    "get_session_factory",
    "get_tm_session",
    "get_tm_session_pyramid",
    "init",
]


class Tweens:
    """6.x's holder of the routing tweens; 7 routes in the session itself, so it stays empty."""


tweens = Tweens()


class SessionFactory(sqlalchemy.orm.sessionmaker):  # type: ignore[type-arg]
    """6.x's session factory: ``factory(request)`` gives a session on the engine routed for it.

    ``factory(None, readwrite=True)`` (or ``False``) picks the engine explicitly. Unlike 6.x it does
    not re-``configure`` itself per call, so concurrent requests in threads cannot swap engines.
    """

    def __init__(
        self,
        force_master: Iterable[str] | None,
        force_slave: Iterable[str] | None,
        ro_engine: Engine,
        rw_engine: Engine,
    ) -> None:
        from c2cwsgiutils.db import Database

        super().__init__()
        self.database = Database(rw_engine, ro_engine, force_master or (), force_slave or ())
        self.master_paths = self.database.force_read_write
        self.slave_paths = self.database.force_read_only
        self.ro_engine = ro_engine
        self.rw_engine = rw_engine

    def engine_name(self, readwrite: bool) -> str:
        """The configuration prefix of the read-write (``True``) or read-only engine."""
        engine = self.rw_engine if readwrite else self.ro_engine
        return str(getattr(engine, "c2c_name", engine.url.render_as_string(hide_password=True)))

    def engine_for(self, request: Any, readwrite: bool | None = None) -> Engine:
        """The engine ``__call__`` binds to (see the class documentation)."""
        from c2cwsgiutils import db

        if readwrite is not None:
            return self.rw_engine if readwrite and not db.FORCE_READONLY else self.ro_engine
        return self.database.engine_for_request(request)

    def __call__(
        self, request: Any = None, readwrite: bool | None = None, **local_kw: Any
    ) -> sqlalchemy.orm.Session:
        local_kw.setdefault("bind", self.engine_for(request, readwrite))
        return super().__call__(**local_kw)  # type: ignore[no-any-return]


def init(
    config: Any,
    master_prefix: str,
    slave_prefix: str | None = None,
    force_master: Iterable[str] | None = None,
    force_slave: Iterable[str] | None = None,
) -> SessionFactory:
    """6.x's ``db.init``: engines from the ini prefixes, ``request.dbsession`` joined to pyramid_tm.

    Returns the :class:`SessionFactory` (also stored as ``config.registry["dbsession_factory"]``),
    which ``HealthCheck.add_db_session_check`` accepts. Sets ``tm.manager_hook`` to pyramid_tm's
    explicit manager, as 6.x did.
    """
    from c2cwsgiutils.db import setup_session

    config.get_settings()["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    setup = setup_session(config, master_prefix, slave_prefix, force_master, force_slave)
    factory = SessionFactory(force_master, force_slave, setup.read_only_engine, setup.read_write_engine)
    config.registry["dbsession_factory"] = factory
    return factory


def create_session(  # noqa: PLR0917 - 6.x signature
    config: Any,
    name: str,
    url: str,
    slave_url: str | None = None,
    force_master: Iterable[str] | None = None,
    force_slave: Iterable[str] | None = None,
    **engine_config: Any,
) -> sqlalchemy.orm.scoped_session[Any]:
    """6.x's ``create_session`` (deprecated there already): a scoped session from two URLs."""
    from c2cwsgiutils import db, sql

    warnings.warn(
        "c2cwsgiutils.db.create_session is deprecated; use c2cwsgiutils.db.setup_session",
        DeprecationWarning,
        stacklevel=2,
    )
    read_write = sqlalchemy.create_engine(url, **engine_config)
    if slave_url is not None and slave_url != url and config is not None:
        read_only = sqlalchemy.create_engine(slave_url, **engine_config)
        read_write.c2c_name = name + "_master"  # type: ignore[attr-defined]
        read_only.c2c_name = name + "_slave"  # type: ignore[attr-defined]
    else:
        read_only = read_write
        read_write.c2c_name = name  # type: ignore[attr-defined]
    if config is not None:
        for engine in {read_write, read_only}:
            sql.instrument(engine, config, engine.c2c_name)  # type: ignore[attr-defined]
        config.include("pyramid_tm")
    database = db.Database(read_write, read_only, force_master or (), force_slave or ())
    return db._scoped_session(database)


def get_engine(settings: Mapping[str, Any], prefix: str = "sqlalchemy.") -> Engine:
    """The engine configured by the ``prefix`` keys of ``settings`` (``sqlalchemy.url`` ...)."""
    return sqlalchemy.engine_from_config(dict(settings), prefix)


def get_session_factory(engine: Engine) -> sqlalchemy.orm.sessionmaker[sqlalchemy.orm.Session]:
    """A ``sessionmaker`` bound to ``engine``."""
    return sqlalchemy.orm.sessionmaker(bind=engine)


def get_tm_session(session_factory: Any, transaction_manager: Any) -> sqlalchemy.orm.Session:
    """A session from ``session_factory`` joined to ``transaction_manager`` (commit with it)."""
    import zope.sqlalchemy

    session: sqlalchemy.orm.Session = session_factory()
    zope.sqlalchemy.register(session, transaction_manager=transaction_manager)
    return session


def get_tm_session_pyramid(
    session_factory: SessionFactory, transaction_manager: Any, request: Any
) -> sqlalchemy.orm.Session:
    """:func:`get_tm_session` for a request: the session is bound to the engine routed for it."""
    import zope.sqlalchemy

    session = session_factory(request=request)
    zope.sqlalchemy.register(session, transaction_manager=transaction_manager)
    return session
