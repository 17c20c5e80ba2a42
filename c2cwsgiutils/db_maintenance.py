"""``{C2C_BASE_PATH}/db/maintenance``: put every process in read-only database mode (6.x view).

``GET .../db/maintenance?readonly=true&secret=...`` sends every request of every worker process
(through the broadcast) to the read-only engine of :func:`c2cwsgiutils.db.setup_session` /
``db.init`` sessions (:data:`c2cwsgiutils.db.FORCE_READONLY`), and keeps the choice in Redis so
that processes started later follow it; ``readonly=false`` ends it, no parameter tells the current
state. Answers as 6.x: ``{"status": 200, "readonly": true}`` or ``{"status": 200,
"current_readonly": true|false|null}``. Off unless ``C2C_DB_MAINTENANCE_VIEW_ENABLED`` is true;
it needs the admin secret.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from c2cwsgiutils import broadcast, config

__all__ = ["DB_MAINTENANCE_VIEW_ENABLED", "includeme"]

LOG = logging.getLogger(__name__)

DB_MAINTENANCE_VIEW_ENABLED = config.declare(
    "C2C_DB_MAINTENANCE_VIEW_ENABLED",
    "c2c.db_maintenance_view_enabled",
    False,
    config.as_bool,
    "Add the db/maintenance view (read-only database mode for every process; needs the admin secret).",
    feature="compat",
)
_REDIS_KEY = "db_maintenance_force_readonly"


def _redis(settings: Mapping[str, Any]) -> Any:
    from c2cwsgiutils import redis_client

    timeouts = {"socket_connect_timeout": 2, "socket_timeout": 2}
    return redis_client.make_client(settings, decode_responses=True, **timeouts)


def _key(settings: Mapping[str, Any]) -> str:
    return broadcast.REDIS_PREFIX.get(settings) + _REDIS_KEY


@broadcast.decorator(expect_answers=True, name="c2cwsgiutils.db_maintenance.set_readonly")
def _set_readonly(value: bool) -> bool:
    from c2cwsgiutils import db

    db.FORCE_READONLY = value
    return True


def _stored(settings: Mapping[str, Any]) -> bool | None:
    client = _redis(settings)
    if client is None:
        return None
    try:
        value = client.get(_key(settings))
    finally:
        client.close()
    return None if value is None else value == "true"


def _view(request: Any) -> dict[str, Any]:
    from pyramid.httpexceptions import HTTPBadRequest

    from c2cwsgiutils import db

    settings = request.registry.settings
    raw = request.params.get("readonly")
    if raw is None:
        stored = _stored(settings)
        return {"status": 200, "current_readonly": db.FORCE_READONLY if stored is None else stored}
    if raw.lower() not in ("true", "false"):
        raise HTTPBadRequest("readonly must be true or false")
    readonly = raw.lower() == "true"
    LOG.critical("Read-only database mode changed from %s to %s", db.FORCE_READONLY, readonly)
    _set_readonly(value=readonly)
    client = _redis(settings)
    if client is not None:
        try:
            client.set(_key(settings), "true" if readonly else "false")
        finally:
            client.close()
    return {"status": 200, "readonly": readonly}


def _restore(settings: Mapping[str, Any]) -> None:
    from c2cwsgiutils import db

    try:
        stored = _stored(settings)
    except Exception:  # a Redis outage at start-up must not stop the service
        LOG.warning("Could not read the read-only database mode from Redis", exc_info=True)
        return
    if stored is not None:
        db.FORCE_READONLY = stored


def includeme(config_: Any) -> None:
    """Pyramid include: the view when ``C2C_DB_MAINTENANCE_VIEW_ENABLED`` is true."""
    settings = config_.get_settings()
    if not DB_MAINTENANCE_VIEW_ENABLED.get(settings):
        return
    from c2cwsgiutils.admin import add_admin_view

    add_admin_view(
        config_,
        "db_maintenance",
        "db/maintenance",
        _view,
        title="Database maintenance (read-only mode)",
        methods=("GET", "POST"),
        params=("readonly",),
    )
    _restore(settings)
