"""Cost of a SQL span per statement, against OpenTelemetry's SQLAlchemy instrumentation, on a real PostgreSQL.

Run: ``.venv/bin/python bench/bench_sql_spans.py`` (``C2C_TEST_PG_URL`` picks the server,
``BENCH_STATEMENTS`` the statements per run). Needs valgrind: each variant runs a loop of
``SELECT 1`` (inside a request span, psycopg2, one connection) under
``valgrind --tool=callgrind``, and the CPU instructions of the loop alone (start-up and warm-up
not counted) are divided by the number of statements. Unlike times, these counts hardly depend on
what else the machine is doing.

Variants:

- ``off``: a plain engine, no hook;
- ``hooks, spans off``: the toolkit's dialect hooks with ``C2C_SQL_SPANS=false`` (what an
  instrumented engine cost before SQL spans existed);
- ``spans``: SQL spans on, each span event to a handler that queues the records and is emptied
  every 1000 (as the CollectorHandler's queue is by its sender);
- ``otel off`` / ``otel``: in its own virtualenv (``bench/.peers/otel-sql``, SQLAlchemy 2.0: the
  instrumentation refuses 2.1), the same loop without and with
  ``opentelemetry-instrumentation-sqlalchemy`` on an SDK tracer provider whose simple span
  processor hands each span to an exporter that queues it (emptied every 1000).

Each toolkit's figure is "added": its instructions per statement minus those of its own ``off``.
"""

from __future__ import annotations

import functools
import os
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _harness
import _spans_cost

PG_URL = os.environ.get("C2C_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
STATEMENTS = int(os.environ.get("BENCH_STATEMENTS", "2000"))
OTEL_REQUIREMENTS = [
    "sqlalchemy>=2.0,<2.1",
    "psycopg2-binary",
    "opentelemetry-sdk",
    "opentelemetry-instrumentation-sqlalchemy",
]


def _ours_inner(variant: str, statements: int) -> None:
    import sqlalchemy

    from c2cwsgiutils import sql
    from c2cwsgiutils.spans import span

    _spans_cost.queue_span_events()
    url = sqlalchemy.make_url(PG_URL).set(drivername="postgresql+psycopg2")
    engine = sqlalchemy.create_engine(url, pool_size=1)
    if variant != "off":
        sql.instrument(engine, settings={"c2c.sql_spans": "true" if variant == "spans" else "false"})
    with span("request"), engine.connect() as conn:
        for _ in range(50):  # connection, SQLAlchemy's caches
            conn.exec_driver_sql("SELECT 1")
        # Only what runs inside this C-level reduce() is counted (--toggle-collect).
        functools.reduce(lambda _acc, _item: conn.exec_driver_sql("SELECT 1"), range(statements), None)
        conn.commit()
    engine.dispose()


OTEL_INNER = _spans_cost.OTEL_QUEUE_PROVIDER + textwrap.dedent(
    """
    import functools, sys
    import sqlalchemy

    url, variant, statements = sys.argv[1], sys.argv[2], int(sys.argv[3])
    engine = sqlalchemy.create_engine(url, pool_size=1)
    if variant == "otel":
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
        SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=provider)
    with tracer.start_as_current_span("request"), engine.connect() as conn:
        for _ in range(50):
            conn.exec_driver_sql("SELECT 1")
        functools.reduce(lambda _acc, _item: conn.exec_driver_sql("SELECT 1"), range(statements), None)
        conn.commit()
    engine.dispose()
    """
)


def _otel_instructions(variant: str, statements: int) -> float | None:
    try:
        python = _harness.peer_python("otel-sql", OTEL_REQUIREMENTS)
    except Exception as exc:
        print(f"OpenTelemetry peer not available: {exc}")
        return None
    url = __import__("sqlalchemy").make_url(PG_URL).set(drivername="postgresql+psycopg2")
    argv = [str(python), "-I", "-c", OTEL_INNER, url.render_as_string(hide_password=False), variant]
    return _harness.reduce_instructions([*argv, str(statements)]) / statements


def _ours_instructions(variant: str, statements: int) -> float:
    argv = [sys.executable, __file__, "--inner", variant, str(statements)]
    return _harness.reduce_instructions(argv) / statements


def main(argv: list[str]) -> None:
    if argv[:1] == ["--inner"]:
        _ours_inner(argv[1], int(argv[2]))
        return
    from c2cwsgiutils import spans

    results: dict[str, float | None] = {}
    for variant in ("off", "hooks, spans off", "spans"):
        results[variant] = _ours_instructions(variant, STATEMENTS)
    for variant in ("otel off", "otel"):
        results[variant] = _otel_instructions(variant.replace("otel off", "off"), STATEMENTS)
    print(f"CPU instructions per SELECT 1 (callgrind, {STATEMENTS} statements in a request span)")
    print(f"span hot path compiled: {spans.compiled}")
    _spans_cost.print_added(results, "spans", "SQL span, added per statement")


if __name__ == "__main__":
    main(sys.argv[1:])
