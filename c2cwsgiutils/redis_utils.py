"""6.x's ``c2cwsgiutils.redis_utils``: the toolkit's Redis clients, now :mod:`c2cwsgiutils.redis_client`."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

__all__ = [
    "REDIS_SENTINELS_KEY",
    "REDIS_SENTINELS_KEY_PROP",
    "REDIS_SERVICENAME_KEY",
    "REDIS_SERVICENAME_KEY_PROP",
    "REDIS_URL_KEY",
    "REDIS_URL_KEY_PROP",
    "cleanup",
    "get",
]

REDIS_URL_KEY = "C2C_REDIS_URL"
REDIS_SENTINELS_KEY = "C2C_REDIS_SENTINELS"
REDIS_SERVICENAME_KEY = "C2C_REDIS_SERVICENAME"
REDIS_URL_KEY_PROP = "c2c.redis_url"
REDIS_SENTINELS_KEY_PROP = "c2c.redis_sentinels"
REDIS_SERVICENAME_KEY_PROP = "c2c.redis_servicename"

_clients: tuple[Any, Any, Any] | None = None
_lock = threading.Lock()


def get(settings: Mapping[str, Any] | None = None) -> tuple[Any, Any, Any]:
    """``(master, slave, sentinel)`` clients made once from the settings; ``(None, None, None)``
    without Redis. Without sentinels, the slave is the master and the sentinel ``None``."""
    global _clients
    with _lock:
        if _clients is None:
            from c2cwsgiutils import redis_client

            master = redis_client.make_client(settings, decode_responses=True)
            sentinel = slave = None
            if master is not None:
                sentinel = getattr(master.connection_pool, "sentinel_manager", None)
                slave = master
                if sentinel is not None:
                    slave = sentinel.slave_for(
                        redis_client.REDIS_SERVICENAME.get(settings), decode_responses=True
                    )
            _clients = (master, slave, sentinel)
        return _clients


def cleanup() -> None:
    """Forget the clients (they are made again on the next :func:`get`)."""
    global _clients
    with _lock:
        _clients = None
