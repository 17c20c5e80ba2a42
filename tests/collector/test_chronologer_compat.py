"""Behaviours of Chronologer's API that the collector keeps (issue #24), on a WebTest app."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import webob
import webtest

from tests.collector.records import BASE, ndjson, wire

NDJSON = "application/x-ndjson"


def _load(app: webtest.TestApp, count: int) -> None:
    records = [wire(f"record {i}", created=BASE + i) for i in range(count)]
    app.post("/api/v1/record", ndjson(*records), content_type=NDJSON, status=201)


def test_range_wider_than_a_page_is_cut_to_the_page(
    sqlite_url: str, make_app: Callable[..., webtest.TestApp]
) -> None:
    app = make_app(sqlite_url, max_page="2")
    _load(app, 3)
    records = app.get("/api/v1/record", params={"left": "0", "right": "99"}).json
    assert [record["message"] for record in records] == ["record 2", "record 1"]


def test_right_before_left_is_an_empty_range(app: webtest.TestApp) -> None:
    _load(app, 2)
    assert app.get("/api/v1/record", params={"left": "1", "right": "0"}).json == []


def test_trailing_slash_answers_like_the_collection(app: webtest.TestApp) -> None:
    _load(app, 2)
    assert app.head("/api/v1/record/").headers["X-Record-Count"] == "2"
    assert len(app.get("/api/v1/record/").json) == 2


def test_health_says_ok_without_credentials(
    sqlite_url: str, make_app: Callable[..., webtest.TestApp]
) -> None:
    app = make_app(sqlite_url, tokens="reader:reader:s3cret")
    response = app.get("/health")
    assert (response.status_int, response.body) == (200, b"OK")


def test_head_error_says_why_in_headers(app: webtest.TestApp) -> None:
    response = app.head("/api/v1/record", params={"query": "level >"}, status=400)
    assert response.headers["X-Error-Type"] == "query_syntax_error"
    assert response.headers["X-Error-Message"]


def test_cache_control_as_chronologer(app: webtest.TestApp) -> None:
    _load(app, 1)
    assert app.head("/api/v1/record").headers["Cache-Control"] == "no-cache"
    records = app.get("/api/v1/record")
    assert records.headers["Cache-Control"] == "no-cache"
    one = app.get(f"/api/v1/record/{records.json[0]['id']}")
    assert one.headers["Cache-Control"] == "max-age=2600000"


def _count(app: webtest.TestApp, **params: str) -> int:
    return int(app.head("/api/v1/record", params=params).headers["X-Record-Count"])


def test_before_is_inclusive(app: webtest.TestApp) -> None:
    records = [wire("at", created=BASE), wire("after", created=BASE + 1)]
    app.post("/api/v1/record", ndjson(*records), content_type=NDJSON, status=201)
    assert _count(app, before=str(BASE)) == 1


def test_name_prefixes_ignore_ascii_case(app: webtest.TestApp) -> None:
    records = [wire("a", logger_name="App.Views"), wire("b", logger_name="other")]
    app.post("/api/v1/record", ndjson(*records), content_type=NDJSON, status=201)
    assert _count(app, name="app.v") == 1
    assert _count(app, name="APP") == 1


def test_time_zone_names_ignore_case(app: webtest.TestApp) -> None:
    _load(app, 1)
    response = app.head("/api/v1/record", params={"group": "day", "timezone": "europe/amsterdam"})
    assert response.headers["X-Record-Count"] == "1"


def _raw_get(app: webtest.TestApp, path: str, accept_encoding: str) -> Any:
    # WebTest decodes gzip answers itself: ask the WSGI app directly to see the bytes sent.
    request = webob.Request.blank(path, headers={"Accept-Encoding": accept_encoding})
    return request.get_response(app.app)


def test_read_answers_are_gzipped_when_the_client_prefers_gzip(app: webtest.TestApp) -> None:
    _load(app, 2)
    response = _raw_get(app, "/api/v1/record", "gzip")
    assert (response.headers["Content-Encoding"], response.headers["Vary"]) == ("gzip", "Accept-Encoding")
    assert len(json.loads(gzip.decompress(response.body))) == 2


def test_identity_preferred_or_listed_first_is_not_compressed(app: webtest.TestApp) -> None:
    for accept in ("", "identity", "identity, gzip", "gzip;q=0.5, identity", "gzip;q=0"):
        response = _raw_get(app, "/api/v1/record/1", accept)
        assert response.status_int == 404
        assert "Content-Encoding" not in response.headers, accept
        assert json.loads(response.body)["type"] == "not_found"


def test_errors_carry_chronologers_error_object_beside_ours(app: webtest.TestApp) -> None:
    missing = app.get("/api/v1/record/12345", status=404).json
    bad_query = app.get("/api/v1/record", params={"query": "123#"}, status=400).json
    bad_form = app.post(
        "/api/v1/record", "msg=x", content_type="application/x-www-form-urlencoded", status=400
    )
    assert (missing["type"], missing["error"]) == (
        "not_found",
        {"type": "HTTPError", "message": missing["message"]},
    )
    assert (bad_query["type"], bad_query["error"]["type"]) == ("query_syntax_error", "StorageQueryError")
    assert (bad_form.json["type"], bad_form.json["error"]["type"]) == ("invalid_record", "ModelError")
