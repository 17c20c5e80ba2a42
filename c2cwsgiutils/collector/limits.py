"""Limits that keep one request from stalling or exhausting the collector (issue #18).

Declared here, beside the rest of the collector's settings, so that the hardening has one place:
how long a request body may take to arrive, how many live tails may be open, how long a query
may run, how many ``name=`` prefixes a filter may hold, and how fast failed credentials are
refused per client address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from c2cwsgiutils import config

__all__ = ["Limits"]

BODY_TIMEOUT = config.declare(
    "C2C_COLLECTOR_BODY_TIMEOUT",
    "c2c.collector.body_timeout",
    10.0,
    config.bounded(config.as_float, 0.1, 3600),
    "Seconds a request body may take to arrive, plus one second per `C2C_COLLECTOR_BODY_MIN_RATE` "
    "bytes received: a client that sends its headers and a few bytes, then waits, gets a 408 and "
    "holds no thread meanwhile (granian: bodies are read asynchronously before the application runs; "
    "gunicorn: socket timeouts).",
    feature="collector",
)
BODY_MIN_RATE = config.declare(
    "C2C_COLLECTOR_BODY_MIN_RATE",
    "c2c.collector.body_min_rate",
    65536,
    config.bounded(config.as_int, minimum=1, maximum=1 << 40),
    "Bytes per second a request body must arrive at, on average, past `C2C_COLLECTOR_BODY_TIMEOUT`.",
    feature="collector",
)
MAX_STREAMS = config.declare(
    "C2C_COLLECTOR_MAX_STREAMS",
    "c2c.collector.max_streams",
    32,
    config.bounded(config.as_int, minimum=1, maximum=4096),
    "Live tails (`GET /api/v1/stream`) open at once per worker, each on a thread of its own outside "
    "the `C2C_COLLECTOR_THREADS` that serve the other requests; one more gets a 503 with `Retry-After`.",
    feature="collector",
)
QUERY_TIMEOUT = config.declare(
    "C2C_COLLECTOR_QUERY_TIMEOUT",
    "c2c.collector.query_timeout",
    30.0,
    config.bounded(config.as_float, 0.1, 3600),
    "Seconds a read of the collector's database may run (SQLite: a progress handler interrupts it; "
    "PostgreSQL: `statement_timeout`); past it the API answers 503 `query_timeout`.",
    feature="collector",
)
MAX_NAME_PREFIXES = 100  # logger-name prefixes in one `name=` filter


@dataclass(frozen=True)
class Limits:
    """The limits above, converted once."""

    body_timeout: float = 10.0
    body_min_rate: int = 65536
    max_streams: int = 32
    query_timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None = None) -> Limits:
        """Read every limit (env var > ini key > default); raises ``config.ConfigError``."""
        return cls(
            body_timeout=BODY_TIMEOUT.get(settings),
            body_min_rate=BODY_MIN_RATE.get(settings),
            max_streams=MAX_STREAMS.get(settings),
            query_timeout=QUERY_TIMEOUT.get(settings),
        )

    def body_deadline(self, started: float, received: int) -> float:
        """When a body of which ``received`` bytes arrived, started at ``started``, is too late."""
        return started + self.body_timeout + received / self.body_min_rate
