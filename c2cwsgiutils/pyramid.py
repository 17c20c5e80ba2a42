"""``config.include("c2cwsgiutils.pyramid")``: wires every feature of the toolkit.

Each feature is also includable on its own (``config.include("c2cwsgiutils.errors")`` ...).
A feature whose optional dependency is missing logs one line and stays off.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from c2cwsgiutils import config as c2c_config

LOG = logging.getLogger(__name__)

# Order matters where tweens are registered relative to each other; each feature states its
# own position with over=/under=, so this list only decides the order of the includes.
FEATURES: list[str] = [
    "c2cwsgiutils.pretty_json",
    "c2cwsgiutils.broadcast",
    "c2cwsgiutils.request_tracking",
    "c2cwsgiutils.logging",
    "c2cwsgiutils.logging.level_view",
    "c2cwsgiutils.errors",
    "c2cwsgiutils.spans",
    "c2cwsgiutils.sql.tagging",
    "c2cwsgiutils.sql.activity",
    "c2cwsgiutils.sql.profiler",
    "c2cwsgiutils.sql.spans",
    "c2cwsgiutils.stats",
    "c2cwsgiutils.health_check",
    "c2cwsgiutils.version",
    "c2cwsgiutils.sentry",
    "c2cwsgiutils.services",
    "c2cwsgiutils.debug",
    "c2cwsgiutils.db_maintenance",
    "c2cwsgiutils.github_auth",
    # Last: the admin index lists the views the features above registered.
    "c2cwsgiutils.index",
]


# Modules that declare settings but are not Pyramid includes (logging handlers built before the
# application exists, command-line tools): imported for validation and for the settings table
# (docs/settings.md).
SETTINGS_MODULES: list[str] = [
    "c2cwsgiutils.logging.collector_handler",
    "c2cwsgiutils.celery",
    "c2cwsgiutils.v6_settings",
    "c2cwsgiutils.redis_client",
    "c2cwsgiutils.client_info",
    "c2cwsgiutils.prometheus",
]


def import_features() -> None:
    """Import every feature module so that all settings are declared (for validation and docs)."""
    for name in (*FEATURES, *SETTINGS_MODULES):
        importlib.import_module(name)


def includeme(config: Any) -> None:
    """Include every feature; settings are validated first so a bad value stops start-up."""
    from c2cwsgiutils import v6_settings

    import_features()
    settings = config.get_settings()
    c2c_config.validate_all(settings)
    from c2cwsgiutils import _compiled

    _compiled.warn_if_not_compiled(LOG)
    for name in FEATURES:
        if not v6_settings.switched_off(name, settings):  # e.g. C2C_DEBUG_VIEW_ENABLED=false
            config.include(name)
