"""The Prometheus helpers of 6.x for a ``gunicorn.conf.py``: a metrics server in the master.

``start()`` (in ``on_starting``) serves the metrics of every worker on ``C2C_PROMETHEUS_PORT``
(multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set), ``cleanup()`` (in ``post_fork``)
drops what the master set up that a worker must set up again. 7 can also serve them from the
application (``C2C_PROMETHEUS=true``, ``C2C_PROMETHEUS_PATH``).
"""

from __future__ import annotations

import os
from typing import Any

from c2cwsgiutils import config

__all__ = ["PROMETHEUS_PORT", "build_metric_name", "cleanup", "includeme", "start"]

PROMETHEUS_PORT = config.declare(
    "C2C_PROMETHEUS_PORT",
    "",
    0,
    config.bounded(config.as_int, 0, 65535),
    "Port of the metrics server c2cwsgiutils.prometheus.start() opens in gunicorn's master (6.x "
    "gunicorn.conf.py). 0: none.",
    feature="stats",
)


def start(registry: Any = None) -> None:
    """Serve the Prometheus metrics on ``C2C_PROMETHEUS_PORT`` in a thread (nothing when unset)."""
    port = PROMETHEUS_PORT.get(None)
    if not port:
        return
    import prometheus_client

    if registry is None:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = prometheus_client.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = prometheus_client.REGISTRY
    prometheus_client.start_http_server(port, registry=registry)


def build_metric_name(postfix: str) -> str:
    """``postfix`` behind ``C2C_PROMETHEUS_PREFIX`` (6.x default ``c2cwsgiutils_``)."""
    return os.environ.get("C2C_PROMETHEUS_PREFIX", "c2cwsgiutils_") + postfix


def cleanup() -> None:
    """In a forked worker: forget the master's broadcast connection (the application sets it up again)."""
    from c2cwsgiutils import broadcast

    broadcast.shutdown()


def includeme(config_: Any) -> None:
    """Pyramid include kept for 6.x applications: the metrics are set up by ``c2cwsgiutils.stats``."""
