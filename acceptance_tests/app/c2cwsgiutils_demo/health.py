"""The demo's health checks (``{C2C_BASE_PATH}/health_check``), from the cheapest to the broadest.

Levels let a load balancer ask only for what matters to it (``?max_level=1``: the database), while
a monitoring probe asks for everything.
"""

from __future__ import annotations

from typing import Any

from c2cwsgiutils.broadcast import REDIS_URL
from c2cwsgiutils.health_check import HealthCheck


def includeme(config: Any) -> None:
    """Register the checks; the database engine comes from ``.db``."""
    health_check = HealthCheck(config)
    health_check.add_db_session_check(config.registry["dbsession_factory"], name="database", level=1)
    if REDIS_URL.get(config.get_settings()):
        health_check.add_redis_check(level=2)
        health_check.add_version_check(level=3)
    # The service checks itself through its public API, as a client would: the path is joined to
    # C2C_HEALTH_CHECK_BASE_URL (configuration), never to the Host header of the incoming request.
    health_check.add_url_check("/api/hello", name="api_hello", level=3)
