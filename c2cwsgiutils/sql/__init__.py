"""SQLAlchemy integration: statement tagging, live activity view, profiler.

Engines reach these features through :func:`instrument` (called for you by
:func:`c2cwsgiutils.db.setup_session`)::

    engine = sqlalchemy.create_engine(url)
    c2cwsgiutils.sql.instrument(engine, config)   # config: Pyramid Configurator or registry

- :mod:`c2cwsgiutils.sql.tagging`: the request ID in ``application_name`` and/or a sqlcommenter comment;
- :mod:`c2cwsgiutils.sql.activity`: ``{C2C_BASE_PATH}/sql/activity``, what PostgreSQL runs now;
- :mod:`c2cwsgiutils.sql.profiler`: ``{C2C_BASE_PATH}/sql_profiler``, EXPLAIN ANALYZE of each SELECT;
- :mod:`c2cwsgiutils.sql.spans`: each statement a span (normalised text, duration, rows, database, role).

Importing this package imports no third-party library; SQLAlchemy is imported when an engine is
instrumented.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = [
    "engines",
    "includeme",
    "instrument",
    "instrument_new_engines",
    "register_engine",
    "stop_instrumenting_new_engines",
]

LOG = logging.getLogger(__name__)

_REGISTRY_KEY = "c2cwsgiutils.sql.engines"


def register_engine(registry: Any, name: str, engine: Engine) -> None:
    """Remember ``engine`` under ``name`` on a Pyramid registry (the activity view queries these)."""
    registry.__dict__.setdefault(_REGISTRY_KEY, {})[name] = engine


def engines(registry: Any) -> dict[str, Engine]:
    """The engines registered on a Pyramid registry, by name, in registration order."""
    return dict(registry.__dict__.get(_REGISTRY_KEY, {}))


def instrument(
    engine: Engine,
    config_or_registry: Any = None,
    name: str | None = None,
    *,
    settings: Mapping[str, Any] | None = None,
    role: str | None = None,
) -> None:
    """Attach this toolkit's SQL hooks to ``engine``; idempotent.

    - statement tagging, when ``C2C_SQL_REQUEST_ID`` is on (see :mod:`c2cwsgiutils.sql.tagging`);
    - the SQL profiler hook (costs one flag check per statement while the profiler is off);
    - SQL spans, when ``C2C_SQL_SPANS`` is on (see :mod:`c2cwsgiutils.sql.spans`), with ``role``
      (``master`` / ``slave``) on each span when given;
    - with a Pyramid ``Configurator`` or registry, the engine is registered under ``name``
      (default: its URL without password) for the SQL activity view.

    Settings come from ``settings`` (e.g. the ini settings of a Celery worker), else from the
    registry's settings, else only from the environment.
    """
    from c2cwsgiutils.sql import hooks, profiler, spans, tagging

    registry = getattr(config_or_registry, "registry", config_or_registry)
    if settings is None:
        settings = getattr(registry, "settings", None) if registry is not None else None
    tagging.instrument(engine, tagging.TaggingSettings.from_settings(settings or {}))
    profiler.attach(engine)
    spans.attach(hooks.hooks_for(engine.dialect), spans.SqlSpanSettings.from_settings(settings or {}), role)
    if registry is not None:
        register_engine(registry, name or engine.url.render_as_string(hide_password=True), engine)


_auto_registry: Any = None
_AUTO_SEEN: weakref.WeakSet[Any] = weakref.WeakSet()


def _on_do_connect(dialect: Any, connection_record: Any, cargs: Any, cparams: Any) -> None:
    registry = _auto_registry
    if registry is None or dialect in _AUTO_SEEN:
        return
    if cparams.get("application_name") == "c2cwsgiutils-sql-profiler":
        return  # the profiler's own connections
    _AUTO_SEEN.add(dialect)
    try:
        from c2cwsgiutils.sql import hooks, spans, tagging

        dialect_hooks = hooks.hooks_for(dialect)
        tagging.apply(dialect_hooks, tagging.TaggingSettings.from_settings(registry.settings or {}))
        dialect_hooks.profile = True
        if dialect_hooks.spans is None:  # an engine given to instrument() keeps its own settings
            spans.attach(dialect_hooks, spans.SqlSpanSettings.from_settings(registry.settings or {}))
    except Exception:  # instrumentation must never stop the application from connecting
        LOG.warning("Could not instrument a SQLAlchemy engine", exc_info=True)


def instrument_new_engines(registry: Any) -> None:
    """Instrument each SQLAlchemy engine of the process when it opens its first connection.

    The settings are ``registry``'s. Called by the ``c2cwsgiutils.sql.tagging`` include when
    ``C2C_SQL_REQUEST_ID`` is on, by the ``c2cwsgiutils.sql.profiler`` include when its secret
    is set and by the ``c2cwsgiutils.sql.spans`` include when SQL spans are on, so that engines
    the application creates itself are tagged, profiled and traced too (as the original toolkit
    did for every session). The last registry given wins. Such engines are not
    listed by the activity view (only those given to :func:`instrument` with a registry are).
    """
    global _auto_registry
    from sqlalchemy import event
    from sqlalchemy.engine.default import DefaultDialect

    _auto_registry = registry
    if not event.contains(DefaultDialect, "do_connect", _on_do_connect):
        event.listen(DefaultDialect, "do_connect", _on_do_connect)


def stop_instrumenting_new_engines() -> None:
    """Undo :func:`instrument_new_engines` (engines already instrumented stay so)."""
    global _auto_registry
    _auto_registry = None
    try:
        from sqlalchemy import event
        from sqlalchemy.engine.default import DefaultDialect
    except ImportError:  # pragma: no cover - nothing was registered without SQLAlchemy
        return
    if event.contains(DefaultDialect, "do_connect", _on_do_connect):
        event.remove(DefaultDialect, "do_connect", _on_do_connect)


def includeme(config: Any) -> None:
    """Pyramid include: tagging settings, the SQL activity view, the SQL profiler view, SQL spans."""
    config.include("c2cwsgiutils.sql.tagging")
    config.include("c2cwsgiutils.sql.activity")
    config.include("c2cwsgiutils.sql.profiler")
    config.include("c2cwsgiutils.sql.spans")
