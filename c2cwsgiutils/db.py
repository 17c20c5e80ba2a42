"""Read-only / read-write routing: GET, HEAD and OPTIONS use the read-only engine, other methods the
read-write one.

::

    from c2cwsgiutils.db import setup_session

    def main(global_config, **settings):
        config = Configurator(settings=settings)
        config.include("c2cwsgiutils.pyramid")
        setup_session(config, "sqlalchemy", "sqlalchemy_slave", force_master=[r"GET /api/lock"])
        ...

    @view_config(route_name="hello", renderer="json")
    def hello(request):
        return request.dbsession.execute(select(Hello)).scalars().all()

``request.dbsession`` is a new :class:`sqlalchemy.orm.Session` per request, bound to the engine
chosen for that request and joined to the request's transaction (pyramid_tm + zope.sqlalchemy).
Nothing shared is re-bound per request, so it is safe under threaded workers.

The first item ``setup_session`` returns is, as in c2cwsgiutils 6.x, a
:class:`~sqlalchemy.orm.scoped_session` (``DBSession.query(...)``, ``DBSession.add(...)``, or
``DBSession()``) joined to the current request's transaction and routed the same way; the 6.x
``init`` / ``get_engine`` / ``get_session_factory`` / ``get_tm_session`` API is in
:mod:`c2cwsgiutils._db_compat` and re-exported here.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import Any, NamedTuple

import sqlalchemy
import sqlalchemy.orm
from sqlalchemy.engine import Engine

from c2cwsgiutils import sql

__all__ = [
    "FORCE_READONLY",
    "READ_ONLY_METHODS",
    "Database",
    "RoutingSession",
    "SessionFactory",
    "SessionSetup",
    "Tweens",
    "create_session",
    "get_database",
    "get_engine",
    "get_session_factory",
    "get_tm_session",
    "get_tm_session_pyramid",
    "init",
    "setup_read_write_session",
    "setup_session",
    "tweens",
]

READ_ONLY_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
_REGISTRY_KEY = "c2cwsgiutils.db.databases"

FORCE_READONLY = False
"""When true, every request uses the read-only engine (the ``db/maintenance`` view sets it)."""


class Database:
    """The two engines of one database and the rule choosing between them (immutable)."""

    def __init__(
        self,
        read_write: Engine,
        read_only: Engine,
        force_read_write: Iterable[str] = (),
        force_read_only: Iterable[str] = (),
    ) -> None:
        self.read_write = read_write
        self.read_only = read_only
        self.force_read_write = tuple(re.compile(pattern) for pattern in force_read_write)
        self.force_read_only = tuple(re.compile(pattern) for pattern in force_read_only)
        self.session_factory: sqlalchemy.orm.sessionmaker[RoutingSession] = sqlalchemy.orm.sessionmaker(
            class_=RoutingSession, database=self
        )

    def engine_for(self, method: str, path: str) -> Engine:
        """The engine for a request: a force list matching ``"METHOD /path"`` first, then the method."""
        if self.read_only is self.read_write:
            return self.read_write
        if FORCE_READONLY:
            return self.read_only
        if self.force_read_write or self.force_read_only:
            target = f"{method} {path}"
            if any(pattern.match(target) for pattern in self.force_read_write):
                return self.read_write
            if any(pattern.match(target) for pattern in self.force_read_only):
                return self.read_only
        return self.read_only if method in READ_ONLY_METHODS else self.read_write

    def engine_for_request(self, request: Any) -> Engine:
        """The engine for a Pyramid request (the read-write one when ``request`` is ``None``)."""
        if request is None:
            return self.read_write
        return self.engine_for(request.method, request.path)


class RoutingSession(sqlalchemy.orm.Session):
    """A session that, when not given a bind, uses the engine chosen for the current Pyramid request.

    Made by :attr:`Database.session_factory`; outside a request it uses the read-write engine.
    """

    def __init__(self, *args: Any, database: Database | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.c2c_database = database

    def get_bind(self, mapper: Any = None, **kwargs: Any) -> Any:
        """The session's bind when it has one, else the engine the current request is routed to."""
        if self.bind is not None or kwargs.get("bind") is not None or self.c2c_database is None:
            return super().get_bind(mapper, **kwargs)
        from pyramid.threadlocal import get_current_request

        return self.c2c_database.engine_for_request(get_current_request())


class SessionSetup(NamedTuple):
    """What :func:`setup_session` returns (unpacks like the original toolkit's 3-tuple)."""

    session: sqlalchemy.orm.scoped_session[RoutingSession]
    read_write_engine: Engine
    read_only_engine: Engine

    @property
    def session_factory(self) -> sqlalchemy.orm.sessionmaker[RoutingSession]:
        """The ``sessionmaker`` behind :attr:`session` (sessions not joined to any transaction)."""
        return self.session.session_factory


class _RequestTransactionManager:
    """What zope.sqlalchemy needs of a transaction manager (``get()``), resolved per call.

    Inside a request it is pyramid_tm's ``request.tm`` (so it also works with
    ``tm.manager_hook = pyramid_tm.explicit_manager``); elsewhere the thread's default manager.
    """

    def get(self) -> Any:
        import transaction
        from pyramid.threadlocal import get_current_request

        request = get_current_request()
        manager = getattr(request, "tm", None) if request is not None else None
        return (manager if manager is not None else transaction.manager).get()


_REQUEST_TRANSACTION_MANAGER = _RequestTransactionManager()


def _scoped_session(database: Database) -> sqlalchemy.orm.scoped_session[RoutingSession]:
    """The 6.x ``DBSession``: one session per thread, joined to the request's transaction."""
    import zope.sqlalchemy

    scoped = sqlalchemy.orm.scoped_session(database.session_factory)
    zope.sqlalchemy.register(scoped, transaction_manager=_REQUEST_TRANSACTION_MANAGER)
    # The attributes 6.x's health check and db_maintenance view read.
    scoped.c2c_rw_bind = database.read_write  # type: ignore[attr-defined]
    scoped.c2c_ro_bind = database.read_only  # type: ignore[attr-defined]
    scoped.c2c_database = database  # type: ignore[attr-defined]
    return scoped


def get_database(registry: Any, request_property: str = "dbsession") -> Database:
    """The :class:`Database` that ``setup_session`` set up for ``request_property``."""
    return registry.__dict__[_REGISTRY_KEY][request_property]  # type: ignore[no-any-return]


def setup_session(
    config: Any,
    master_prefix: str,
    slave_prefix: str | None = None,
    force_master: Iterable[str] | None = None,
    force_slave: Iterable[str] | None = None,
    *,
    request_property: str = "dbsession",
) -> SessionSetup:
    """Build the read-write and read-only engines and ``request.<request_property>``.

    ``master_prefix`` / ``slave_prefix`` are ini prefixes read with
    :func:`sqlalchemy.engine_from_config` (``sqlalchemy.url``, ``sqlalchemy.pool_size`` ...); without
    a read-only prefix, or when its ``.url`` is not set, both are the same engine. ``force_master``
    and ``force_slave`` are regular expressions matched (``re.match``) on ``"METHOD /path"``, e.g.
    ``r"GET /api/lock"``; a read-write match wins. Both engines are instrumented
    (:func:`c2cwsgiutils.sql.instrument`: tagging, profiler) and registered for the activity view
    under their prefixes. Includes ``pyramid_tm``.

    Returns ``(session, read_write_engine, read_only_engine)``: ``session`` is a
    :class:`~sqlalchemy.orm.scoped_session` (the 6.x ``DBSession``) whose writes are committed with
    the request's transaction; ``.session_factory`` is the plain ``sessionmaker``.
    """
    settings = config.get_settings()
    read_write = sqlalchemy.engine_from_config(settings, master_prefix + ".")
    read_write.c2c_name = master_prefix  # type: ignore[attr-defined]  # 6.x's name for its checks
    if slave_prefix and settings.get(slave_prefix + ".url"):
        read_only = sqlalchemy.engine_from_config(settings, slave_prefix + ".")
        read_only.c2c_name = slave_prefix  # type: ignore[attr-defined]
    else:
        read_only = read_write
    sql.instrument(read_write, config, master_prefix, role="master")
    if read_only is not read_write:
        sql.instrument(read_only, config, slave_prefix, role="slave")
    database = Database(read_write, read_only, force_master or (), force_slave or ())
    config.registry.__dict__.setdefault(_REGISTRY_KEY, {})[request_property] = database
    config.include("pyramid_tm")
    _add_request_property(config, request_property, _dbsession_getter(request_property))
    return SessionSetup(_scoped_session(database), read_write, read_only)


def setup_read_write_session(
    config: Any,
    read_write_prefix: str,
    read_only_prefix: str | None = None,
    force_read_write: Iterable[str] | None = None,
    force_read_only: Iterable[str] | None = None,
    *,
    request_property: str = "dbsession",
) -> SessionSetup:
    """:func:`setup_session` with the clearer names: read-write and read-only instead of master/slave."""
    return setup_session(
        config,
        read_write_prefix,
        read_only_prefix,
        force_read_write,
        force_read_only,
        request_property=request_property,
    )


def _dbsession_getter(request_property: str) -> Any:
    def dbsession(request: Any) -> sqlalchemy.orm.Session:
        import zope.sqlalchemy

        database = get_database(request.registry, request_property)
        session = database.session_factory(bind=database.engine_for(request.method, request.path))
        zope.sqlalchemy.register(session, transaction_manager=request.tm)
        return session

    return dbsession


def _add_request_property(config: Any, name: str, func: Any) -> None:
    # ``add_request_method(reify=True)`` makes Pyramid build a new request class for every request
    # (about 20 µs). Once the configuration is committed, the properties we own (ours and
    # pyramid_tm's ``tm``) are moved onto one subclass of the request factory, built once. When the
    # application's request factory is not a Request subclass, Pyramid's per-request way stays.
    config.add_request_method(func, name, reify=True)
    config.action(
        ("c2cwsgiutils.db.request_properties", name),
        lambda: _promote_request_properties(config.registry, (name, "tm")),
        order=sys.maxsize,
    )


def _promote_request_properties(registry: Any, names: Iterable[str]) -> None:
    from pyramid.interfaces import IRequestExtensions, IRequestFactory
    from pyramid.request import Request

    factory = registry.queryUtility(IRequestFactory, default=Request)
    extensions = registry.queryUtility(IRequestExtensions)
    if extensions is None or not (isinstance(factory, type) and issubclass(factory, Request)):
        return
    # The descriptors Pyramid would have put on a per-request subclass go on this one instead.
    attrs: dict[str, Any] = {
        name: extensions.descriptors.pop(name) for name in names if name in extensions.descriptors
    }
    if attrs:
        attrs["__module__"] = factory.__module__
        registry.registerUtility(type(factory.__name__, (factory,), attrs), IRequestFactory)


# The 6.x API (init, SessionFactory, get_engine ...) lives in its own module; names re-exported here.
from c2cwsgiutils._db_compat import (  # noqa: E402
    SessionFactory,
    Tweens,
    create_session,
    get_engine,
    get_session_factory,
    get_tm_session,
    get_tm_session_pyramid,
    init,
    tweens,
)
