"""The demo's health checks (``{C2C_BASE_PATH}/health_check``), from the cheapest to the broadest.

Levels let a load balancer ask only for what matters to it (``?max_level=1``: the database), while
a monitoring probe asks for everything.
"""

from __future__ import annotations

from typing import Any

from c2cwsgiutils.broadcast import REDIS_URL
from c2cwsgiutils.health_check import HealthCheck


def _api_hello_url(request: Any) -> str:
    # The service checks itself through its public API, as a client would.
    return str(request.route_url("hello"))


def includeme(config: Any) -> None:
    """Register the checks; the database engine comes from ``.db``."""
    health_check = HealthCheck(config)
    health_check.add_db_session_check(config.registry["dbsession_factory"], name="database", level=1)
    if REDIS_URL.get(config.get_settings()):
        health_check.add_redis_check(level=2)
        health_check.add_version_check(level=3)
    health_check.add_url_check(_api_hello_url, name="api_hello", level=3)
