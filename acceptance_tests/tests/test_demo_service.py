"""The demo service from the outside: real gunicorn workers, a real Celery worker, real databases."""

from __future__ import annotations

from typing import Any

from acceptance_tests.tests.conftest import Product
from c2cwsgiutils.acceptance import Connection, retry_timeout


def test_hello_answers_json(connection: Connection) -> None:
    assert connection.get_json("api/hello") == {"message": "Hello from the c2cwsgiutils demo"}


def test_unknown_path_is_a_json_404_with_the_request_id(connection: Connection) -> None:
    body = connection.get_json("api/nothing-here", expected_status=404)
    assert body["status"] == 404
    assert body["request_id"] == connection.last_request_id
    assert "stacktrace" not in body


def test_items_are_stored_in_postgresql(connection: Connection) -> None:
    created = connection.post_json("api/items", expected_status=201, json={"name": "acceptance"})
    names = [item["name"] for item in connection.get_json("api/items")["items"]]
    assert "acceptance" in names
    assert created["name"] == "acceptance"


def test_invalid_input_is_a_json_400(connection: Connection) -> None:
    body = connection.get_json("api/sleep-in-web?seconds=-1", expected_status=400)
    assert "'seconds' must be a number" in body["message"]


def test_a_task_keeps_the_request_id_of_the_request_that_sent_it(
    product: Product, connection: Connection
) -> None:
    answer = connection.get_json("api/sleep-in-worker?seconds=0.2")
    request_id = connection.last_request_id
    assert answer["request_id"] == request_id
    assert answer["database"] == "postgresql"

    def worker_logged_it() -> list[dict[str, Any]]:
        records = [r for r in product.json_lines("worker") if r.get("task_id") == answer["task_id"]]
        messages = [r["msg"] for r in records]
        assert "Sleeping 0.2 s in the worker" in messages
        assert any("succeeded" in message for message in messages)
        return records

    records = retry_timeout(worker_logged_it, timeout=10, interval=0.2)
    assert {r["request_id"] for r in records} == {request_id}
    assert {r["service"] for r in records} == {"demo-worker"}


def test_debug_stacks_shows_both_gunicorn_workers(product: Product, connection: Connection) -> None:
    answers = connection.get_json("c2c/debug/stacks", params={"secret": product.secret})
    assert len({answer["pid"] for answer in answers}) == 2
    assert all(answer["threads"] for answer in answers)


def test_admin_views_need_the_secret(product: Product, connection: Connection) -> None:
    connection.get_json("c2c/debug/headers", expected_status=403)
    connection.get_json("c2c/debug/headers", headers={"X-API-Key": product.secret})


def test_stats_view_counts_requests(connection: Connection) -> None:
    # Each gunicorn worker keeps its own figures: ask until one that served /api/hello answers.
    def counted() -> dict[str, float]:
        connection.get_json("api/hello")
        timers: dict[str, dict[str, float]] = connection.get_json("c2c/stats.json")["timers"]
        assert "route.GET.hello.200" in timers
        return timers["route.GET.hello.200"]

    assert retry_timeout(counted, timeout=10, interval=0.1)["count"] >= 1


def test_health_check_levels(connection: Connection) -> None:
    database_only = connection.get_json("c2c/health_check", params={"max_level": "1"})
    assert set(database_only["successes"]) == {"database"}
    everything = connection.get_json("c2c/health_check", params={"max_level": "3"})
    assert set(everything["successes"]) == {"database", "redis", "version", "api_hello"}
    assert everything["failures"] == {}


def test_health_check_names_a_failing_check(connection: Connection) -> None:
    body = connection.get_json("c2c/health_check", params={"checks": "nope"}, expected_status=400)
    assert "nope" in body["message"]
