"""SQLAlchemy integration: statement tagging, live activity view, profiler.

Engines reach these features through :func:`instrument` (called for you by
:func:`c2cwsgiutils.db.setup_session`)::

    engine = sqlalchemy.create_engine(url)
    c2cwsgiutils.sql.instrument(engine, config)   # config: Pyramid Configurator or registry

- :mod:`c2cwsgiutils.sql.tagging`: the request ID in ``application_name`` and/or a sqlcommenter comment;
- :mod:`c2cwsgiutils.sql.activity`: ``{C2C_BASE_PATH}/sql/activity``, what PostgreSQL runs now;
- :mod:`c2cwsgiutils.sql.profiler`: ``{C2C_BASE_PATH}/sql_profiler``, EXPLAIN ANALYZE of each SELECT.

Importing this package imports no third-party library; SQLAlchemy is imported when an engine is
instrumented.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["engines", "instrument", "register_engine"]

LOG = logging.getLogger(__name__)

_REGISTRY_KEY = "c2cwsgiutils.sql.engines"


def register_engine(registry: Any, name: str, engine: Engine) -> None:
    """Remember ``engine`` under ``name`` on a Pyramid registry (the activity view queries these)."""
    registry.__dict__.setdefault(_REGISTRY_KEY, {})[name] = engine


def engines(registry: Any) -> dict[str, Engine]:
    """The engines registered on a Pyramid registry, by name, in registration order."""
    return dict(registry.__dict__.get(_REGISTRY_KEY, {}))


def instrument(engine: Engine, config_or_registry: Any = None, name: str | None = None) -> None:
    """Attach this toolkit's SQL hooks to ``engine``; idempotent.

    - statement tagging, when ``C2C_SQL_REQUEST_ID`` is on (see :mod:`c2cwsgiutils.sql.tagging`);
    - the SQL profiler hook (costs one flag check per statement while the profiler is off);
    - with a Pyramid ``Configurator`` or registry, the engine is registered under ``name``
      (default: its URL without password) for the SQL activity view.

    Settings come from the registry's settings, or only from the environment without one.
    """
    from c2cwsgiutils.sql import profiler, tagging

    registry = getattr(config_or_registry, "registry", config_or_registry)
    settings = getattr(registry, "settings", None) if registry is not None else None
    tagging.instrument(engine, tagging.TaggingSettings.from_settings(settings or {}))
    profiler.attach(engine)
    if registry is not None:
        register_engine(registry, name or engine.url.render_as_string(hide_password=True), engine)
