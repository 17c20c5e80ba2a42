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
    "READ_ONLY_METHODS",
    "Database",
    "RoutingSession",
    "SessionSetup",
    "get_database",
    "setup_read_write_session",
    "setup_session",
]

READ_ONLY_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
_REGISTRY_KEY = "c2cwsgiutils.db.databases"


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

    session_factory: sqlalchemy.orm.sessionmaker[RoutingSession]
    read_write_engine: Engine
    read_only_engine: Engine


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

    Returns ``(session_factory, read_write_engine, read_only_engine)``.
    """
    settings = config.get_settings()
    read_write = sqlalchemy.engine_from_config(settings, master_prefix + ".")
    if slave_prefix and settings.get(slave_prefix + ".url"):
        read_only = sqlalchemy.engine_from_config(settings, slave_prefix + ".")
    else:
        read_only = read_write
    sql.instrument(read_write, config, master_prefix, role="master")
    if read_only is not read_write:
        sql.instrument(read_only, config, slave_prefix, role="slave")
    database = Database(read_write, read_only, force_master or (), force_slave or ())
    config.registry.__dict__.setdefault(_REGISTRY_KEY, {})[request_property] = database
    config.include("pyramid_tm")
    _add_request_property(config, request_property, _dbsession_getter(request_property))
    return SessionSetup(database.session_factory, read_write, read_only)


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
