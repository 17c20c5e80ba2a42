"""Settings of the log collector (feature ``collector``), parsed once into :class:`CollectorSettings`.

This module imports no third-party library so that ``make docs`` and the settings validation of
``c2cwsgiutils.pyramid`` can see the collector's settings without the ``collector`` extra.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from c2cwsgiutils import config

__all__ = [
    "DEFAULT_DB_URL",
    "DEFAULT_PORT",
    "CollectorSettings",
    "collector_settings",
    "max_inflight",
    "pending_gate",
    "serve_workers",
]

DEFAULT_DB_URL = "sqlite:///var/collector.sqlite"
DEFAULT_PORT = 8090

DB_URL = config.declare(
    "C2C_COLLECTOR_DB_URL",
    "c2c.collector.db_url",
    DEFAULT_DB_URL,
    config.as_str,
    "Collector storage: a SQLAlchemy URL, `sqlite:///relative/path.sqlite` (WAL mode, created on "
    "start) or `postgresql://user:password@host/db` (JSONB); or ClickHouse (extra `clickhouse`): "
    "`clickhouse://user:password@host:8123/db` (`clickhouses://` for HTTPS) or embedded "
    "`chdb:///absolute/dir` (one worker), see docs/collector/clickhouse.md. The password is never logged.",
    secret=True,
    feature="collector",
)
RETENTION_DAYS = config.declare(
    "C2C_COLLECTOR_RETENTION_DAYS",
    "c2c.collector.retention_days",
    0.0,
    config.bounded(config.as_float, minimum=0),
    "Records older than this many days are deleted in the background, in small batches. 0: keep all.",
    feature="collector",
)
RETENTION_BATCH = config.declare(
    "C2C_COLLECTOR_RETENTION_BATCH",
    "c2c.collector.retention_batch",
    2000,
    config.bounded(config.as_int, minimum=1, maximum=1_000_000),
    "Records deleted per transaction by the retention thread (small: ingestion never waits long).",
    feature="collector",
)
MAX_BODY_BYTES = config.declare(
    "C2C_COLLECTOR_MAX_BODY_BYTES",
    "c2c.collector.max_body_bytes",
    16 * 1024 * 1024,
    config.bounded(config.as_int, minimum=1024),
    "Largest accepted request body in bytes, after gzip decoding; larger ones answer 413.",
    feature="collector",
)
MAX_BATCH_RECORDS = config.declare(
    "C2C_COLLECTOR_MAX_BATCH_RECORDS",
    "c2c.collector.max_batch_records",
    10_000,
    config.bounded(config.as_int, minimum=1),
    "Most records (NDJSON lines) in one batch; more answer 413.",
    feature="collector",
)
MAX_PAGE = config.declare(
    "C2C_COLLECTOR_MAX_PAGE",
    "c2c.collector.max_page",
    1000,
    config.bounded(config.as_int, minimum=1),
    "Most records one `GET /api/v1/record` or `GET /api/v1/request/{id}` returns.",
    feature="collector",
)
RECORD_SHAPE = config.declare(
    "C2C_COLLECTOR_RECORD_SHAPE",
    "c2c.collector.record_shape",
    "full",
    config.choice("full", "chronologer"),
    "Records of `GET /api/v1/record`: `full` (Chronologer's fields, ours beside them) or "
    "`chronologer` (Chronologer's fields only, for clients that compare whole records); "
    "`?shape=` overrides it per request.",
    feature="collector",
)
TOKENS = config.declare(
    "C2C_COLLECTOR_TOKENS",
    "c2c.collector.tokens",
    [],
    config.as_list,
    "Credentials as comma-separated `name:roles:secret` entries (roles `writer`, `reader`, `admin` "
    "joined by `+`); the secret is an API token and the HTTP Basic password of user `name`.",
    secret=True,
    feature="collector",
)
CREDENTIALS_FILE = config.declare(
    "C2C_COLLECTOR_CREDENTIALS_FILE",
    "c2c.collector.credentials_file",
    "",
    config.as_str,
    "File of `name:roles:hash` lines (hashes from `c2cwsgiutils-logs hash-secret`), or Chronologer's "
    "JSON authfile as it is, read at start.",
    feature="collector",
)
HOST = config.declare(
    "C2C_COLLECTOR_HOST",
    "c2c.collector.host",
    "127.0.0.1",
    config.as_str,
    "Address `c2cwsgiutils-logs serve` listens on; anything but localhost needs credentials.",
    feature="collector",
)
PORT = config.declare(
    "C2C_COLLECTOR_PORT",
    "c2c.collector.port",
    DEFAULT_PORT,
    config.bounded(config.as_int, minimum=1, maximum=65535),
    "Port `c2cwsgiutils-logs serve` listens on.",
    feature="collector",
)
INGEST_PORT = config.declare(
    "C2C_COLLECTOR_INGEST_PORT",
    "c2c.collector.ingest_port",
    0,
    config.bounded(config.as_int, minimum=0, maximum=65535),
    "A second port of `c2cwsgiutils-logs serve` that only takes `POST /api/v1/record` and OTLP/HTTP "
    "(`POST /v1/logs`, `/v1/traces`), served by a "
    "process of its own ingesting one request at a time: the fastest ingestion, which no query or live "
    "tail of the main port can hold up. 0: none. Not in relay mode.",
    feature="collector",
)
WORKERS = config.declare(
    "C2C_COLLECTOR_WORKERS",
    "c2c.collector.workers",
    0,
    config.bounded(config.as_int, minimum=0, maximum=64),
    "Worker processes of `c2cwsgiutils-logs serve`. 0: one with SQLite (a single writing process keeps "
    "its page cache across commits and never waits for another one), two with PostgreSQL and in relay mode.",
    feature="collector",
)
THREADS = config.declare(
    "C2C_COLLECTOR_THREADS",
    "c2c.collector.threads",
    8,
    config.bounded(config.as_int, minimum=1, maximum=256),
    "Threads per worker: requests handled at once by one worker (an open live tail, GET /api/v1/stream, "
    "holds one; an idle keep-alive connection holds none).",
    feature="collector",
)
MAX_INFLIGHT = config.declare(
    "C2C_COLLECTOR_MAX_INFLIGHT",
    "c2c.collector.max_inflight",
    0,
    config.bounded(config.as_int, minimum=0, maximum=256),
    "Ingestion requests (`POST /api/v1/record`) one worker process works on at once; past it a POST "
    "waits for a slot (1 s at most) unless it holds the last free thread, and then answers 503 with "
    "`Retry-After`. 0: half the threads, at least 1.",
    feature="collector",
)
RETRY_AFTER = config.declare(
    "C2C_COLLECTOR_RETRY_AFTER",
    "c2c.collector.retry_after",
    1,
    config.bounded(config.as_int, minimum=1, maximum=3600),
    "Seconds of the `Retry-After` header of a 503 answered because the collector is busy (a storage "
    "outage answers 5).",
    feature="collector",
)
SERVER = config.declare(
    "C2C_COLLECTOR_SERVER",
    "c2c.collector.server",
    "granian",
    config.choice("granian", "gunicorn"),
    "HTTP server of `c2cwsgiutils-logs serve`: granian (Rust HTTP handling, the fastest) or gunicorn "
    "(gthread workers).",
    feature="collector",
)
AUTO_MIGRATE = config.declare(
    "C2C_COLLECTOR_AUTO_MIGRATE",
    "c2c.collector.auto_migrate",
    True,
    config.as_bool,
    "Apply the schema migrations when the collector starts (else run `c2cwsgiutils-logs migrate`).",
    feature="collector",
)
FAST_INGEST = config.declare(
    "C2C_COLLECTOR_FAST_INGEST",
    "c2c.collector.fast_ingest",
    True,
    config.as_bool,
    "Answer `POST /api/v1/record` without Pyramid's router and tweens (same answers, several times "
    "cheaper; that route then has no per-route stats, `Server-Timing` nor `request` span event).",
    feature="collector",
)
FORWARD_URL = config.declare(
    "C2C_COLLECTOR_FORWARD_URL",
    "c2c.collector.forward_url",
    "",
    config.as_str,
    "Relay mode: base URL of the upstream collector (`c2cwsgiutils-logs serve --forward URL`). The "
    "collector then keeps no database: it spools each accepted batch (fsynced) and forwards it.",
    feature="collector",
)
FORWARD_TOKEN = config.declare(
    "C2C_COLLECTOR_FORWARD_TOKEN",
    "c2c.collector.forward_token",
    "",
    config.as_str,
    "Relay mode: writer token sent upstream as 'Authorization: Bearer <token>'.",
    secret=True,
    feature="collector",
)
FORWARD_SPOOL_DIR = config.declare(
    "C2C_COLLECTOR_FORWARD_SPOOL_DIR",
    "c2c.collector.forward_spool_dir",
    "var/relay-spool",
    config.as_str,
    "Relay mode: directory of the spool (one segment file set per worker; a dead worker's segments "
    "are adopted by a live one). Keep it across restarts: what is in it is forwarded.",
    feature="collector",
)
FORWARD_SPOOL_MAX_BYTES = config.declare(
    "C2C_COLLECTOR_FORWARD_SPOOL_MAX_BYTES",
    "c2c.collector.forward_spool_max_bytes",
    1024 * 1024 * 1024,
    config.bounded(config.as_int, minimum=1024),
    "Relay mode: bound of the spool in bytes; when full, new batches answer 503 (nothing is dropped).",
    feature="collector",
)
FORWARD_BATCH_AGE = config.declare(
    "C2C_COLLECTOR_FORWARD_BATCH_AGE",
    "c2c.collector.forward_batch_age",
    0.5,
    config.bounded(config.as_float, minimum=0.001, maximum=60),
    "Relay mode: seconds an idle forwarder waits before looking at its spool again.",
    feature="collector",
)


@dataclass(frozen=True)
class CollectorSettings:
    """Every collector setting, converted once."""

    db_url: str
    retention_days: float
    retention_batch: int
    max_body_bytes: int
    max_batch_records: int
    max_page: int
    tokens: tuple[str, ...]
    credentials_file: str
    host: str
    port: int
    workers: int
    threads: int
    server: str
    auto_migrate: bool
    fast_ingest: bool = True
    ingest_port: int = 0
    forward_url: str = ""
    forward_token: str = ""
    forward_spool_dir: str = "var/relay-spool"
    forward_spool_max_bytes: int = 1024 * 1024 * 1024
    forward_batch_age: float = 0.5
    max_inflight: int = 0
    retry_after: int = 1
    record_shape: str = "full"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> CollectorSettings:
        """Read every setting (env var > ini key > default); raises ``config.ConfigError``."""
        return cls(
            db_url=DB_URL.get(settings),
            retention_days=RETENTION_DAYS.get(settings),
            retention_batch=RETENTION_BATCH.get(settings),
            max_body_bytes=MAX_BODY_BYTES.get(settings),
            max_batch_records=MAX_BATCH_RECORDS.get(settings),
            max_page=MAX_PAGE.get(settings),
            tokens=tuple(TOKENS.get(settings)),
            credentials_file=CREDENTIALS_FILE.get(settings),
            host=HOST.get(settings),
            port=PORT.get(settings),
            workers=WORKERS.get(settings),
            threads=THREADS.get(settings),
            server=SERVER.get(settings),
            auto_migrate=AUTO_MIGRATE.get(settings),
            fast_ingest=FAST_INGEST.get(settings),
            ingest_port=INGEST_PORT.get(settings),
            forward_url=FORWARD_URL.get(settings).strip(),
            forward_token=FORWARD_TOKEN.get(settings),
            forward_spool_dir=FORWARD_SPOOL_DIR.get(settings),
            forward_spool_max_bytes=FORWARD_SPOOL_MAX_BYTES.get(settings),
            forward_batch_age=FORWARD_BATCH_AGE.get(settings),
            max_inflight=MAX_INFLIGHT.get(settings),
            retry_after=RETRY_AFTER.get(settings),
            record_shape=RECORD_SHAPE.get(settings),
        )


def serve_workers(settings: CollectorSettings) -> int:
    """The worker processes ``serve`` runs: ``settings.workers``, or its default for the storage."""
    if settings.workers:
        return settings.workers
    # chdb (embedded ClickHouse) holds its directory in one process.
    return 1 if settings.db_url.startswith(("sqlite", "chdb")) and not settings.forward_url else 2


def max_inflight(settings: CollectorSettings) -> int:
    """The ingestion requests one worker process works on at once: ``settings.max_inflight``, or
    half its threads (at least 1)."""
    return settings.max_inflight or max(1, settings.threads // 2)


def pending_gate(settings: CollectorSettings, inline: bool) -> Any:
    """The :class:`~c2cwsgiutils.collector.http.admission.PendingGate` of one worker process: at most
    ``max(16, 4 x threads)`` ingestion requests held at once (8 when they are worked on inline, one
    at a time, in the event loop: the ingest port), and ``4 x max_body_bytes`` of their declared
    bodies."""
    from c2cwsgiutils.collector.http.admission import PendingGate

    count = 8 if inline else max(16, 4 * settings.threads)
    return PendingGate(count, 4 * settings.max_body_bytes, settings.retry_after)


def collector_settings(registry: Any) -> CollectorSettings:
    """The :class:`CollectorSettings` of a Pyramid registry (built once)."""
    return config.cached(registry, CollectorSettings.from_settings)
