"""6.x's ``c2cwsgiutils.redis_utils``: the toolkit's Redis clients, now :mod:`c2cwsgiutils.redis_client`."""

from __future__ import annotations

import logging
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
    "PubSubWorkerThread",
    "cleanup",
    "get",
]

REDIS_URL_KEY = "C2C_REDIS_URL"
REDIS_SENTINELS_KEY = "C2C_REDIS_SENTINELS"
REDIS_SERVICENAME_KEY = "C2C_REDIS_SERVICENAME"
REDIS_URL_KEY_PROP = "c2c.redis_url"
REDIS_SENTINELS_KEY_PROP = "c2c.redis_sentinels"
REDIS_SERVICENAME_KEY_PROP = "c2c.redis_servicename"

LOG = logging.getLogger(__name__)

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


class PubSubWorkerThread(threading.Thread):
    """Dispatch the messages of a subscribed ``redis`` ``PubSub`` to its handlers, in a daemon
    thread that survives broken connections (6.x API; ``redis.client.PubSubWorkerThread`` stops at
    the first one). It ends when every channel is unsubscribed (:meth:`stop`).

    ``settings`` is accepted for 6.x's signature; its retry delay and poll timeout settings are gone.
    """

    RETRY_DELAY = 0.5
    GET_MESSAGE_TIMEOUT = 1.0

    def __init__(
        self, pubsub: Any, name: str | None = None, settings: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.pubsub = pubsub
        self._stopped = threading.Event()

    def run(self) -> None:
        import redis

        healthy = True
        while self.pubsub.subscribed and not self._stopped.is_set():
            try:
                self.pubsub.get_message(ignore_subscribe_messages=True, timeout=self.GET_MESSAGE_TIMEOUT)
                if not healthy:
                    LOG.info("Redis subscription back")
                    healthy = True
            except redis.RedisError as exc:
                if healthy:
                    LOG.warning("Redis subscription lost (%s); retrying", type(exc).__name__)
                    healthy = False
                self._stopped.wait(self.RETRY_DELAY)
            except Exception:  # a failing handler must not end the subscription
                LOG.warning("Redis subscription handler failed", exc_info=True)
        self.pubsub.close()

    def stop(self) -> None:
        """Unsubscribe from every channel and pattern; the thread then ends."""
        self._stopped.set()
        self.pubsub.unsubscribe()
        self.pubsub.punsubscribe()
