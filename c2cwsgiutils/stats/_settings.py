"""Settings of the metrics feature, parsed once into :class:`StatsSettings`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from c2cwsgiutils import config

FEATURE = "stats"

STATS_VIEW = config.declare(
    "STATS_VIEW",
    "c2c.stats_view",
    False,
    config.as_bool,
    "Keep metrics in memory and serve them at `{C2C_BASE_PATH}/stats.json` (per process).",
    feature=FEATURE,
)
STATSD_ADDRESS = config.declare(
    "STATSD_ADDRESS",
    "c2c.statsd_address",
    "",
    config.as_str,
    "`host:port` of a statsd server to send metrics to over UDP. Empty: no statsd.",
    feature=FEATURE,
)
STATSD_PREFIX = config.declare(
    "STATSD_PREFIX",
    "c2c.statsd_prefix",
    "",
    config.as_str,
    "Prefix of every statsd metric name (a `.` is added after it).",
    feature=FEATURE,
)
STATSD_TAG_STYLE = config.declare(
    "STATSD_TAG_STYLE",
    "c2c.statsd_tag_style",
    "none",
    config.choice("none", "dogstatsd", "influx"),
    "How tags reach statsd: `none` (tag values appended to the name), `dogstatsd` (`|#k:v`) or "
    "`influx` (`name,k=v`).",
    feature=FEATURE,
)
PROMETHEUS = config.declare(
    "C2C_PROMETHEUS",
    "c2c.prometheus",
    False,
    config.as_bool,
    "Record metrics with `prometheus_client` and serve them at `C2C_PROMETHEUS_PATH`.",
    feature=FEATURE,
)
PROMETHEUS_PATH = config.declare(
    "C2C_PROMETHEUS_PATH",
    "c2c.prometheus_path",
    "/metrics",
    config.Converter(
        lambda raw: config.path_prefix(raw) if raw.strip() not in ("", "-") else "",
        "an absolute URL path such as /metrics, or - for none",
        "path",
    ),
    "Path (not under `C2C_BASE_PATH`, no secret) serving the Prometheus metrics of every worker; `-`: "
    "no view (use `c2cwsgiutils.stats.prometheus.start_metrics_server` for a separate port).",
    feature=FEATURE,
)
PROMETHEUS_PREFIX = config.declare(
    "C2C_PROMETHEUS_PREFIX",
    "c2c.prometheus_prefix",
    "",
    config.as_str,
    "Prefix of every Prometheus metric name, e.g. `myapp_`.",
    feature=FEATURE,
)
PROMETHEUS_MULTIPROC_DIR = config.declare(
    "C2C_PROMETHEUS_MULTIPROC_DIR",
    "c2c.prometheus_multiproc_dir",
    "",
    config.as_str,
    "Directory shared by the worker processes for Prometheus' multiprocess mode (needed with several "
    "gunicorn workers). Empty: `PROMETHEUS_MULTIPROC_DIR` if set, else single-process mode.",
    feature=FEATURE,
)
SERVER_TIMING = config.declare(
    "C2C_SERVER_TIMING",
    "c2c.server_timing",
    False,
    config.as_bool,
    "Add a `Server-Timing` header (`total` and `render` durations) to every response.",
    feature=FEATURE,
)
_optional_bool: config.Converter[bool | None] = config.Converter(
    config.as_bool.func, config.as_bool.accepted, "boolean"
)
SQL_STATS = config.declare(
    "C2C_SQL_STATS",
    "c2c.sql_stats",
    None,
    _optional_bool,
    "Time every SQL statement of every SQLAlchemy engine as `sql.{normalized statement}` (or call "
    "`c2cwsgiutils.stats.sql.instrument(engine)` for one engine). Unset: on when a metrics backend "
    "is enabled, as in 6.x.",
    feature=FEATURE,
)


@dataclass(frozen=True)
class StatsSettings:
    """The parsed metrics settings."""

    memory: bool
    statsd_address: str
    statsd_prefix: str
    statsd_tag_style: str
    prometheus: bool
    prometheus_path: str
    prometheus_prefix: str
    prometheus_multiproc_dir: str
    server_timing: bool
    sql_stats: bool

    @property
    def any_backend(self) -> bool:
        """Whether at least one backend is enabled."""
        return self.memory or bool(self.statsd_address) or self.prometheus

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> StatsSettings:
        """Parse the settings (env var > ini key > default); raises ``ConfigError``."""
        address = STATSD_ADDRESS.get(settings).strip()
        if address:
            host, sep, port = address.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise config.ConfigError(
                    f"STATSD_ADDRESS (ini: c2c.statsd_address) must be host:port (got {address!r})"
                )
        memory, prometheus = STATS_VIEW.get(settings), PROMETHEUS.get(settings)
        sql_stats = SQL_STATS.get(settings)
        return cls(
            memory=memory,
            statsd_address=address,
            statsd_prefix=STATSD_PREFIX.get(settings),
            statsd_tag_style=STATSD_TAG_STYLE.get(settings),
            prometheus=prometheus,
            prometheus_path=PROMETHEUS_PATH.get(settings),
            prometheus_prefix=PROMETHEUS_PREFIX.get(settings),
            prometheus_multiproc_dir=PROMETHEUS_MULTIPROC_DIR.get(settings)
            or os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""),
            server_timing=SERVER_TIMING.get(settings),
            sql_stats=(memory or bool(address) or prometheus) if sql_stats is None else sql_stats,
        )
