"""``c2cwsgiutils-stats-db``: size statistics of a PostgreSQL database, printed or sent as gauges.

For each table of the chosen schemas: the estimated row count (``pg_class.reltuples``, kept up to
date by VACUUM/ANALYZE, so it costs nothing on big tables), the table size and the size of its
indexes. ``--extra`` adds queries of your own that return ``(name, value)`` rows.

Without ``--send`` every value is printed as ``key{tag=value,...} number``; with it, each is sent
through :func:`c2cwsgiutils.stats.set_gauge` to the metrics backends configured by the environment.

6.x's Prometheus output is kept: with ``--prometheus-url`` (a Pushgateway), or with
``C2C_PROMETHEUS_PORT`` set (one scrape, then exit), the command makes 6.x's gauges instead
(:mod:`c2cwsgiutils.scripts._stats_db_prometheus`); ``--extra-gauge SQL NAME HELP`` names an
extra query's gauge.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from c2cwsgiutils import context

LOG = logging.getLogger("c2cwsgiutils.stats_db")

Gauge = tuple[list[str], float, dict[str, str]]

_TABLES = """
SELECT n.nspname AS schema, c.relname AS table, GREATEST(c.reltuples, 0)::bigint AS rows,
       pg_table_size(c.oid) AS size, pg_indexes_size(c.oid) AS index_size
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg_temp%%' AND n.nspname NOT LIKE 'pg_toast_temp%%'
  AND (%(all_schemas)s OR n.nspname = ANY(%(schemas)s))
ORDER BY n.nspname, c.relname
"""


def table_gauges(connection: Any, schemas: Sequence[str]) -> Iterator[Gauge]:
    """Row estimate, table size and index size of every table in ``schemas`` (all when empty)."""
    result = connection.exec_driver_sql(_TABLES, {"all_schemas": not schemas, "schemas": list(schemas)})
    for row in result:
        tags = {"schema": row.schema, "table": row.table}
        yield ["db", "table", "rows"], float(row.rows), tags
        yield ["db", "table", "size"], float(row.size), tags
        yield ["db", "table", "index_size"], float(row.index_size), tags


def extra_gauges(connection: Any, queries: Sequence[str]) -> Iterator[Gauge]:
    """The ``(name, value)`` rows of each extra query, as ``db.extra.<name>`` gauges."""
    for query in queries:
        for row in connection.exec_driver_sql(query.replace("%", "%%")):
            if len(row) < 2:
                raise ValueError(f"extra query must return (name, value) rows: {query}")
            yield ["db", "extra", str(row[0])], float(row[1]), {}


def format_gauge(key_parts: Sequence[str], value: float, tags: dict[str, str]) -> str:
    """``key{tag=value,...} number``, the way this command prints a gauge."""
    tag_text = "{" + ",".join(f"{k}={v}" for k, v in sorted(tags.items())) + "}" if tags else ""
    number = int(value) if value.is_integer() else value
    return f"{'.'.join(key_parts)}{tag_text} {number}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="c2cwsgiutils-stats-db", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="SQLAlchemy URL of the database")
    parser.add_argument(
        "--schema", action="append", default=[], help="schema to report (repeatable; default: all)"
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        help="extra SQL query returning (name, value) rows (repeatable)",
    )
    parser.add_argument(
        "--extra-gauge",
        nargs=3,
        action="append",
        default=[],
        metavar=("SQL", "GAUGE", "HELP"),
        help="6.x: extra query returning (name, value) rows, reported as this Prometheus gauge",
    )
    parser.add_argument(
        "--prometheus-url",
        "--prometheus_url",
        help="6.x: push 6.x's gauges to this Prometheus Pushgateway (job db_counts)",
    )
    parser.add_argument(
        "--prometheus-instance",
        "--prometheus_instance",
        help="6.x: the Pushgateway's instance grouping key",
    )
    parser.add_argument(
        "--send",
        action="store_true",
        help="send the values as gauges (c2cwsgiutils.stats) instead of printing",
    )
    return parser


def _send(gauges: list[Gauge]) -> None:
    # Imported here: the metrics module and its backends are only needed with --send.
    from c2cwsgiutils import stats  # type: ignore[attr-defined,unused-ignore]

    for key_parts, value, tags in gauges:
        stats.set_gauge(key_parts, value, tags)
    flush = getattr(stats, "flush", None)
    if callable(flush):
        flush()


def _main_6x(args: argparse.Namespace) -> int:
    """6.x's Prometheus output: pushed to ``--prometheus-url`` or scraped once."""
    import sqlalchemy

    from c2cwsgiutils.scripts import _stats_db_prometheus

    extras = [(sql, "extra", "Extra metric") for sql in args.extra] + [tuple(e) for e in args.extra_gauge]
    with context.bind(request_id=context.new_request_id(), kind="cli"):
        engine = sqlalchemy.create_engine(args.db, poolclass=sqlalchemy.pool.NullPool)
        try:
            with engine.connect() as connection:
                registry = _stats_db_prometheus.collect(connection, args.schema or ["public"], extras)
        except (sqlalchemy.exc.SQLAlchemyError, ValueError) as exc:
            print(f"c2cwsgiutils-stats-db: {str(exc).splitlines()[0]}", file=sys.stderr)
            return 1
        finally:
            engine.dispose()
        _stats_db_prometheus.publish(registry, args.prometheus_url, args.prometheus_instance)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    import sqlalchemy

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    if args.prometheus_url or os.environ.get("C2C_PROMETHEUS_PORT") or args.extra_gauge:
        return _main_6x(args)
    with context.bind(request_id=context.new_request_id(), kind="cli"):
        engine = sqlalchemy.create_engine(args.db, poolclass=sqlalchemy.pool.NullPool)
        try:
            with engine.connect() as connection:
                gauges = list(table_gauges(connection, args.schema))
                gauges.extend(extra_gauges(connection, args.extra))
        except (sqlalchemy.exc.SQLAlchemyError, ValueError) as exc:
            print(f"c2cwsgiutils-stats-db: {str(exc).splitlines()[0]}", file=sys.stderr)
            return 1
        finally:
            engine.dispose()
        if args.send:
            _send(gauges)
            LOG.info("Sent %d gauges", len(gauges))
        else:
            for gauge in gauges:
                print(format_gauge(*gauge))
    return 0


# 6.x's internals of this command: refused with the fix, rather than kept with other semantics.
_GONE_6X = {
    "Reporter": "the command prints the values or sends them with --send (c2cwsgiutils.stats)",
    "do_table": "use table_gauges(connection, schemas)",
    "do_extra": "use extra_gauges(connection, queries)",
    "scoped_session": "pass a SQLAlchemy Connection to table_gauges() / extra_gauges()",
}


def __getattr__(name: str) -> Any:
    if name in _GONE_6X:
        # ImportError, not AttributeError: `from ... import Reporter` would replace the latter by
        # a bare "cannot import name".
        raise ImportError(
            f"c2cwsgiutils.scripts.stats_db.{name} of 6.x is gone: {_GONE_6X[name]} (see MIGRATION.md)"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    sys.exit(main())
