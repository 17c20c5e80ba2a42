"""The promise, from the outside: what one request caused, in every process and layer, carries its ID."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg2  # type: ignore[import-untyped]  # no stubs
import pytest

from acceptance_tests.tests.conftest import Product
from c2cwsgiutils.acceptance import Connection, retry_timeout


def in_background(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    return thread, result


def pg_activity(product: Product) -> list[tuple[str, str]]:
    """``(application_name, query)`` of every session of the test database, read with psycopg2."""
    with psycopg2.connect(product.pg_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name, query FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return [(str(name), str(query)) for name, query in cursor.fetchall()]


def test_response_and_every_log_line_of_a_request_carry_its_id(
    product: Product, connection: Connection
) -> None:
    response = connection.get_raw("api/items")
    request_id = connection.last_request_id
    assert response.headers["X-Request-ID"] == request_id

    def logged() -> list[dict[str, Any]]:
        records = [r for r in product.json_lines("web") if r.get("request_id") == request_id]
        assert any(r["logger_name"] == "c2cwsgiutils.spans" for r in records)
        return records

    records = retry_timeout(logged, timeout=10, interval=0.2)
    assert {r["service"] for r in records} == {"demo-web"}
    assert {r["trace_id"] for r in records} == {records[0]["trace_id"]}


@pytest.mark.parametrize(
    "header",
    ["x" * 200, "bad\r\nX-Injected: 1", "spaces are not allowed", "<script>"],
    ids=["long", "crlf", "space", "html"],
)
def test_an_unsafe_request_id_is_replaced_and_never_logged(product: Product, header: str) -> None:
    import requests

    response = requests.get(
        product.base_url + "api/hello", headers={"X-Request-ID": header.replace("\r\n", " ")}, timeout=10
    )
    assert response.status_code == 200
    replaced = response.headers["X-Request-ID"]
    assert replaced != header
    assert len(replaced) == 32
    assert header.replace("\r\n", " ") not in product.log("web")


def test_a_slow_request_is_found_in_the_sql_activity_view_with_its_id(
    product: Product, connection: Connection
) -> None:
    slow = Connection(product.base_url, retries=0)
    # The statement runs for 6 s: both views are sampled while it runs, in the same pass (on a
    # loaded machine the request may start late, and a pass may come after the statement ended).
    thread, _ = in_background(lambda: slow.get_json("api/sleep-in-web?seconds=6"))
    try:

        def running() -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
            assert slow.last_request_id
            queries = connection.get_json(
                "c2c/sql/activity",
                params={"request_id": slow.last_request_id},
                headers={"X-API-Key": product.secret},
            )
            rows = queries["queries"] if isinstance(queries, dict) else queries
            assert rows
            # And as a DBA sees it, straight from pg_stat_activity:
            activity = pg_activity(product)
            assert any(
                name.startswith(f"rid={slow.last_request_id}")
                and f"request_id='{slow.last_request_id}'" in query
                for name, query in activity
            ), activity
            return rows, activity

        rows, _activity = retry_timeout(running, timeout=15, interval=0.2)
        assert {row["app_metadata"]["request_id"] for row in rows} == {slow.last_request_id}
        assert any("pg_sleep" in row["db_metadata"]["query"] for row in rows)
    finally:
        thread.join(30)


def test_sql_of_a_task_is_tagged_with_the_request_and_task_ids(product: Product) -> None:
    sender = Connection(product.base_url, retries=0)
    thread, answer = in_background(lambda: sender.get_json("api/sleep-in-worker?seconds=3"))
    try:

        def tagged() -> tuple[str, str]:
            rows = [
                (name, query)
                for name, query in pg_activity(product)
                if sender.last_request_id and f"request_id='{sender.last_request_id}'" in query
            ]
            assert rows
            return rows[0]

        name, query = retry_timeout(tagged, timeout=15, interval=0.2)
    finally:
        thread.join(30)
    assert name.startswith(f"rid={sender.last_request_id},kind=celery")
    assert f"task_id='{answer[0]['task_id']}'" in query


def test_log_level_set_through_the_view_reaches_both_workers(
    product: Product, connection: Connection
) -> None:
    answer = connection.get_json(
        "c2c/logging/level",
        params={"name": "c2cwsgiutils_demo.acceptance", "level": "DEBUG"},
        headers={"X-API-Key": product.secret},
    )
    assert len({process["pid"] for process in answer["processes"]}) == 2
    for _ in range(6):  # whichever worker answers, it has the level
        current = connection.get_json(
            "c2c/logging/level",
            params={"name": "c2cwsgiutils_demo.acceptance"},
            headers={"X-API-Key": product.secret},
        )
        assert current["level"] == "DEBUG"


def test_sql_profiler_explains_selects_with_the_request_id(product: Product, connection: Connection) -> None:
    secret = {"X-API-Key": product.secret}
    answer = connection.get_json("c2c/sql_profiler", params={"enable": "1"}, headers=secret)
    try:
        # The broadcast answers once each worker has turned it on: whichever serves the next request profiles.
        assert len({process["pid"] for process in answer["processes"]}) == 2
        connection.get_json("api/items")
        request_id = connection.last_request_id

        def explained() -> list[dict[str, Any]]:
            plans = [
                r
                for r in product.json_lines("web")
                if r["logger_name"] == "c2cwsgiutils.sql_profiler" and r.get("request_id") == request_id
            ]
            assert plans
            return plans

        plans = retry_timeout(explained, timeout=10, interval=0.2)
        assert any("Seq Scan" in p["msg"] or "Index" in p["msg"] or "Limit" in p["msg"] for p in plans)
    finally:
        connection.get_json("c2c/sql_profiler", params={"enable": "0"}, headers=secret)


def test_the_collector_shows_everything_one_request_caused(product: Product) -> None:
    sender = Connection(product.base_url, retries=0)
    answer = sender.get_json("api/sleep-in-worker?seconds=0.2")
    request_id = sender.last_request_id
    collector = Connection(product.collector_url, retries=0)

    def gathered() -> dict[str, Any]:
        view = collector.get_json(f"api/v1/request/{request_id}")
        services = {record["service"] for record in view["records"]}
        assert services == {"demo-web", "demo-worker"}
        assert any(record.get("task_id") == answer["task_id"] for record in view["records"])
        # The worker sends its records in several batches, in order: wait for its last one.
        assert any(record["name"] == "celery.app.trace" for record in view["records"])
        return view  # type: ignore[no-any-return]

    view = retry_timeout(gathered, timeout=15, interval=0.3)
    # The task's SQL is there too: the span event around the query, with the time it took.
    sql = [r for r in view["records"] if str(r["data"].get("span_name", "")).endswith(".sql")]
    assert [r["service"] for r in sql] == ["demo-worker"]
    assert sql[0]["data"]["db_time"] > 0
    spans = {span["span_id"]: span for span in view["spans"]}
    assert len(view["roots"]) == 1
    root = spans[view["roots"][0]]
    assert "demo-web" in root["services"]
    # The task's span hangs below the web request's, across processes.
    worker_spans = [s for s in spans.values() if "demo-worker" in s["services"]]
    assert worker_spans
    assert all(s["parent_span_id"] in spans for s in worker_spans)
