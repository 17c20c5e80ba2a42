"""6.x's Prometheus output of ``c2cwsgiutils-stats-db``: the same gauges, pushed or scraped once.

6.x's command made the gauges ``<C2C_PROMETHEUS_PREFIX>database_table_count``, ``..._table_size``
(labels ``schema``, ``table``), ``..._table_index_size`` (also ``index``, ``fork``: main, fsm),
``..._table_index_usage`` (also ``index``, ``action``: scan, read, fetch) and ``..._extra``
(``metric``) or the gauge named by ``--extra-gauge``; it pushed them to a Pushgateway
(``--prometheus-url``, job ``db_counts``) or served them on ``C2C_PROMETHEUS_PORT`` for a single
scrape, then exited. Deployments built around that (a cron job scraped once) keep working.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

LOG = logging.getLogger("c2cwsgiutils.stats_db")

_TABLES = """
SELECT n.nspname, c.relname, GREATEST(c.reltuples, 0)::bigint, pg_table_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%(schemas)s)
ORDER BY 1, 2
"""
_INDEXES = """
SELECT s.schemaname, s.relname, s.indexrelname, pg_relation_size(s.indexrelid, 'main'),
       pg_relation_size(s.indexrelid, 'fsm'), s.idx_scan, s.idx_tup_read, s.idx_tup_fetch
FROM pg_stat_all_indexes s
WHERE s.schemaname = ANY(%(schemas)s)
ORDER BY 1, 2, 3
"""


class _Gauges:
    def __init__(self) -> None:
        import prometheus_client

        self.registry = prometheus_client.CollectorRegistry()
        self._gauges: dict[str, Any] = {}

    def set(self, kind: str, help_: str, labels: dict[str, str], value: float) -> None:
        import prometheus_client

        from c2cwsgiutils import prometheus

        gauge = self._gauges.get(kind)
        if gauge is None:
            gauge = prometheus_client.Gauge(
                prometheus.build_metric_name(f"database_{kind}"), help_, list(labels), registry=self.registry
            )
            self._gauges[kind] = gauge
        gauge.labels(**labels).set(value)


def collect(connection: Any, schemas: Sequence[str], extras: Sequence[tuple[str, str, str]]) -> Any:
    """The registry of 6.x's gauges for ``schemas`` and the ``(sql, gauge, help)`` extras."""
    gauges = _Gauges()
    for schema, table, rows, size in connection.exec_driver_sql(_TABLES, {"schemas": list(schemas)}):
        labels = {"schema": schema, "table": table}
        gauges.set("table_count", "The number of row in the table", labels, rows)
        gauges.set("table_size", "Size of the table", labels, size)
    for schema, table, index, main, fsm, scans, read, fetched in connection.exec_driver_sql(
        _INDEXES, {"schemas": list(schemas)}
    ):
        labels = {"schema": schema, "table": table, "index": index}
        for fork, value in (("main", main), ("fsm", fsm)):
            gauges.set("table_index_size", "Size of the index", {**labels, "fork": fork}, value)
        for action, value in (("scan", scans), ("read", read), ("fetch", fetched)):
            gauges.set("table_index_usage", "Usage of the index", {**labels, "action": action}, value or 0)
    for sql, kind, help_ in extras:
        for row in connection.exec_driver_sql(sql.replace("%", "%%")):
            if len(row) < 2:
                raise ValueError(f"extra query must return (name, value) rows: {sql}")
            gauges.set(kind, help_, {"metric": str(row[0])}, float(row[1]))
    return gauges.registry


def publish(registry: Any, push_url: str | None, instance: str | None) -> None:
    """Push to the Pushgateway at ``push_url`` (job ``db_counts``), else serve one scrape on
    ``C2C_PROMETHEUS_PORT`` (6.x's default 9090) and return after it."""
    import prometheus_client

    if push_url:
        grouping = {"instance": instance} if instance else None
        prometheus_client.push_to_gateway(push_url, job="db_counts", registry=registry, grouping_key=grouping)
        return
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class _Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            LOG.debug(format, *args)

    metrics_app = prometheus_client.make_wsgi_app(registry)
    scraped: list[bool] = []

    def app(environ: Any, start_response: Any) -> Any:
        scraped.append(True)
        return metrics_app(environ, start_response)

    port = int(os.environ.get("C2C_PROMETHEUS_PORT") or 9090)
    with make_server("", port, app, handler_class=_Quiet) as server:
        LOG.info("Waiting for Prometheus to scrape the metrics on port %d", port)
        # Until a real request: a bare TCP probe (a readiness check) is no scrape.
        while not scraped:
            server.handle_request()
