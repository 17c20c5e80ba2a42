"""POST /api/v1/record: HTTPHandler forms, JSON objects and NDJSON batches, on both backends."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable

import webtest

from c2cwsgiutils.collector.intake import ingest
from tests.collector.records import httphandler_form, ndjson, wire

NDJSON = "application/x-ndjson"


def count(app: webtest.TestApp, **params: str) -> int:
    return int(app.head("/api/v1/record", params=params).headers["X-Record-Count"])


def test_httphandler_form_is_stored_with_201_and_its_id(app: webtest.TestApp) -> None:
    response = app.post(
        "/api/v1/record",
        httphandler_form(user_id=7),
        content_type="application/x-www-form-urlencoded",
        status=201,
    )
    record = app.get(f"/api/v1/record/{response.json['id']}").json
    assert (record["name"], record["level"], record["message"]) == ("tests.collector.form", 30, "hello world")
    assert (record["data"]["line"], record["data"]["function"], record["data"]["user_id"]) == (
        33,
        "func",
        7,  # an extra keeps the type of its literal
    )


def test_json_object_is_stored_with_201(app: webtest.TestApp) -> None:
    response = app.post(
        "/api/v1/record", json.dumps(wire("one")), content_type="application/json", status=201
    )
    assert app.get(f"/api/v1/record/{response.json['id']}").json["message"] == "one"


def test_ndjson_batch_stores_every_line(app: webtest.TestApp) -> None:
    response = app.post(
        "/api/v1/record", ndjson(*(wire(f"m{i}") for i in range(5))), content_type=NDJSON, status=201
    )
    assert response.json == {"stored": 5, "duplicates": 0, "errors": []}
    assert count(app) == 5


def test_gzip_ndjson_batch_is_decoded(app: webtest.TestApp) -> None:
    body = gzip.compress(ndjson(wire("a"), wire("b")))
    app.post("/api/v1/record", body, headers={"Content-Type": NDJSON, "Content-Encoding": "gzip"}, status=201)
    assert count(app) == 2


def test_mixed_batch_stores_good_lines_and_reports_bad_ones_with_207(app: webtest.TestApp) -> None:
    body = ndjson(wire("ok1")) + b"{not json\n" + ndjson(wire("ok2")) + b'["not an object"]\n'
    response = app.post("/api/v1/record", body, content_type=NDJSON, status=207)
    assert (response.json["stored"], [error["line"] for error in response.json["errors"]]) == (2, [2, 4])
    assert count(app) == 2


def test_batch_of_only_bad_lines_is_400(app: webtest.TestApp) -> None:
    response = app.post("/api/v1/record", b"nope\n{\n", content_type=NDJSON, status=400)
    assert (response.json["type"], response.json["stored"]) == ("invalid_records", 0)


def test_resent_records_are_counted_as_duplicates_not_stored_twice(app: webtest.TestApp) -> None:
    body = ndjson(wire("a"), wire("b"), wire("c"))
    app.post("/api/v1/record", body, content_type=NDJSON, status=201)
    response = app.post("/api/v1/record", body, content_type=NDJSON, status=201)
    assert response.json == {"stored": 0, "duplicates": 3, "errors": []}
    assert count(app) == 3


def test_resent_single_json_record_answers_its_existing_id(app: webtest.TestApp) -> None:
    body = json.dumps(wire("once"))
    first = app.post("/api/v1/record", body, content_type="application/json", status=201)
    again = app.post("/api/v1/record", body, content_type="application/json", status=200)
    assert (again.json["id"], again.json["duplicates"]) == (first.json["id"], 1)


def test_correlation_fields_are_columns_and_extras_are_kept(app: webtest.TestApp) -> None:
    record = wire(
        "x", request_id="r1", trace_id="t1", span_id="s1", parent_span_id="p1", task_id="k1", user_id=42
    )
    app.post("/api/v1/record", ndjson(record), content_type=NDJSON, status=201)
    stored = app.get("/api/v1/record", params={"request_id": "r1"}).json[0]
    full = app.get(f"/api/v1/record/{stored['id']}").json
    keys = ("request_id", "trace_id", "span_id", "parent_span_id", "task_id", "host", "service")
    assert [full[key] for key in keys] == ["r1", "t1", "s1", "p1", "k1", "web-1", "demo"]
    assert (full["data"]["user_id"], full["data"]["pid"]) == (42, 42)
    assert full["uuid"] == ingest.scoped_key("", record["c2c_uuid"])


def test_body_over_the_limit_is_413_naming_the_limit(
    db_url: str, make_app: Callable[..., webtest.TestApp]
) -> None:
    app = make_app(db_url, max_body_bytes="2048")
    response = app.post(
        "/api/v1/record", ndjson(*(wire("x" * 100) for _ in range(20))), content_type=NDJSON, status=413
    )
    assert "2048" in response.json["message"]


def test_gzip_body_decoding_past_the_limit_is_413(
    db_url: str, make_app: Callable[..., webtest.TestApp]
) -> None:
    app = make_app(db_url, max_body_bytes="4096")
    body = gzip.compress(ndjson(*(wire("y" * 200) for _ in range(50))))
    response = app.post(
        "/api/v1/record", body, headers={"Content-Type": NDJSON, "Content-Encoding": "gzip"}, status=413
    )
    assert "4096" in response.json["message"]


def test_batch_over_the_record_limit_is_413_naming_the_limit(
    db_url: str, make_app: Callable[..., webtest.TestApp]
) -> None:
    app = make_app(db_url, max_batch_records="3")
    response = app.post(
        "/api/v1/record", ndjson(*(wire() for _ in range(4))), content_type=NDJSON, status=413
    )
    assert "limit of 3" in response.json["message"]
    assert count(app) == 0


def test_unknown_content_type_is_415(app: webtest.TestApp) -> None:
    assert (
        app.post("/api/v1/record", b"x", content_type="text/plain", status=415).json["type"]
        == "unsupported_media_type"
    )


def test_nul_and_lone_surrogates_are_stored_replaced(app: webtest.TestApp) -> None:
    body = b'{"msg": "a\\u0000b\\ud800c", "logger_name": "x", "extra": "\\u0000"}\n'
    app.post("/api/v1/record", body, content_type=NDJSON, status=201)
    assert app.get("/api/v1/record").json[0]["message"] == "a\ufffdb\ufffdc"


def test_non_finite_numbers_are_refused_per_line(app: webtest.TestApp) -> None:
    response = app.post(
        "/api/v1/record",
        b'{"msg": "x", "v": NaN}\n{"msg": "y", "v": 1e999}\n',
        content_type=NDJSON,
        status=400,
    )
    assert [error["line"] for error in response.json["errors"]] == [1, 2]


def test_a_gzip_body_of_several_members_is_read_whole(app: webtest.TestApp) -> None:

    body = gzip.compress(ndjson(wire("first member"))) + gzip.compress(ndjson(wire("second member")))
    headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
    assert app.post("/api/v1/record", body, headers=headers, status=201).json["stored"] == 2
    messages = {record["message"] for record in app.get("/api/v1/record").json}
    assert {"first member", "second member"} <= messages


def test_a_truncated_gzip_body_is_refused(app: webtest.TestApp) -> None:

    body = gzip.compress(ndjson(wire("cut"), wire("short")))[:-6]
    headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
    assert app.post("/api/v1/record", body, headers=headers, status=400).json["type"] == "invalid_body"
