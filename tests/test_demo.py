"""The demo service (acceptance_tests/app) through WebTest, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from c2cwsgiutils_demo import create_app
from c2cwsgiutils_demo.models import Base, Item
from webtest import TestApp


def _app(settings: dict[str, Any]) -> Iterator[TestApp]:
    app = create_app(settings)
    test_app = TestApp(app)
    try:
        yield test_app
    finally:
        engine = app.registry["dbengine"]
        Base.metadata.drop_all(engine)
        engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestApp]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('demo')}/demo.sqlite"
    else:
        url = request.getfixturevalue("pg_url")
    yield from _app({"sqlalchemy.url": url, "demo.greeting": "Hi there"})


@pytest.fixture
def demo(demo_app: TestApp) -> Iterator[TestApp]:
    """The demo application, its tables emptied after the test."""
    yield demo_app
    with demo_app.app.registry["dbengine"].begin() as connection:
        connection.execute(sa.delete(Item))


def test_hello_returns_the_configured_greeting(demo: TestApp) -> None:
    assert demo.get("/api/hello").json == {"message": "Hi there"}


def test_items_are_empty_at_first(demo: TestApp) -> None:
    assert demo.get("/api/items").json == {"items": []}


def test_created_item_is_returned_with_201(demo: TestApp) -> None:
    response = demo.post_json("/api/items", {"name": " first "}, status=201)
    assert {"id", "name", "created"} == set(response.json)
    assert response.json["name"] == "first"
    assert response.json["created"].endswith("+00:00")


def test_created_items_are_listed_in_order(demo: TestApp) -> None:
    first = demo.post_json("/api/items", {"name": "a"}, status=201).json
    second = demo.post_json("/api/items", {"name": "b"}, status=201).json
    assert [first, second] == demo.get("/api/items").json["items"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "'name' must be a non-empty string"),
        ({"name": 3}, "'name' must be a non-empty string"),
        ({"name": "  "}, "'name' must be a non-empty string"),
        ({"name": "x" * 201}, "'name' must be at most 200 characters long"),
        (["a list"], 'The body must be a JSON object such as {"name": "..."}'),
    ],
)
def test_invalid_item_is_a_json_400(demo: TestApp, body: Any, message: str) -> None:
    response = demo.post_json("/api/items", body, status=400)
    assert (400, message) == (response.json["status"], response.json["message"])
    assert demo.get("/api/items").json == {"items": []}


def test_item_body_that_is_not_json_is_a_400(demo: TestApp) -> None:
    response = demo.post("/api/items", b"name=x", content_type="application/json", status=400)
    assert response.json["status"] == 400


def test_sleep_in_web_runs_a_sql_sleep(demo: TestApp) -> None:
    body = demo.get("/api/sleep-in-web", {"seconds": "0.05"}).json
    assert body["slept"] == 0.05
    assert body["database"] in ("sqlite", "postgresql")


@pytest.mark.parametrize("seconds", ["abc", "-1", "61", "nan", "inf"])
def test_sleep_in_web_rejects_invalid_seconds(demo: TestApp, seconds: str) -> None:
    response = demo.get("/api/sleep-in-web", {"seconds": seconds}, status=400)
    assert response.json["message"].startswith("'seconds' must be a number between 0 and 60")


def test_without_database_url_it_uses_sqlite_in_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for app in _app({"sqlalchemy.url": ""}):
        app.post_json("/api/items", {"name": "kept"}, status=201)
        assert app.get("/api/sleep-in-web", {"seconds": "0"}).json["database"] == "sqlite"
    assert (tmp_path / "var" / "c2cwsgiutils_demo.sqlite").is_file()


def test_demo_unknown_path_is_a_json_404(demo: TestApp) -> None:
    assert demo.get("/api/nothing", status=404).json["status"] == 404
