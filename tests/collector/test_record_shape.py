"""Read answers in Chronologer's record shape, one record schema for every intake (issue #24)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from typing import Any

import webtest

from tests.collector.records import BASE, ndjson, wire

FORM = "application/x-www-form-urlencoded"
NDJSON = "application/x-ndjson"

# A record as logging.handlers.HTTPHandler sends it (LogRecord.__dict__, str() of each value).
LOGRECORD: dict[str, Any] = {
    "name": "test",
    "msg": "Band %d, %s",
    "args": (8, "arg2"),
    "levelname": "INFO",
    "levelno": 20,
    "pathname": "log.py",
    "filename": "log.py",
    "module": "log",
    "exc_info": None,
    "exc_text": None,
    "stack_info": None,
    "lineno": 10,
    "funcName": "info",
    "created": BASE + 0.25,
    "msecs": 250.0,
    "relativeCreated": 11.5,
    "thread": 140550102431488,
    "threadName": "MainThread",
    "processName": "MainProcess",
    "process": 29799,
    "message": "Band 8, arg2",
    "asctime": "2025-11-22 09:26:40,250",
    "lisfor": "lightfullness",
    "nested": [{"a": 2}, ["123", "234"]],
}
META = {
    "args": [8, "arg2"],
    "filename": "log.py",
    "funcName": "info",
    "lineno": 10,
    "module": "log",
    "msecs": 250.0,
    "msg": "Band %d, %s",
    "pathname": "log.py",
    "process": 29799,
    "processName": "MainProcess",
    "relativeCreated": 11.5,
    "stack_info": None,
    "thread": 140550102431488,
    "threadName": "MainThread",
}
CHRONOLOGER_FIELDS = ["id", "name", "ts", "level", "message", "logrec"]


def _post_form(app: webtest.TestApp, fields: dict[str, Any]) -> int:
    body = urllib.parse.urlencode({key: str(value) for key, value in fields.items()})
    return int(app.post("/api/v1/record", body, content_type=FORM, status=201).json["id"])


def _post_json(app: webtest.TestApp, record: dict[str, Any]) -> int:
    return int(app.post("/api/v1/record", json.dumps(record), content_type="application/json").json["id"])


def test_a_form_record_reads_back_in_chronologers_shape(app: webtest.TestApp) -> None:
    record = app.get(f"/api/v1/record/{_post_form(app, LOGRECORD)}").json
    assert {key: record[key] for key in CHRONOLOGER_FIELDS[1:]} == {
        "name": "test",
        "ts": "2025-11-22 08:26:40.250000+00:00",
        "level": 20,
        "message": "Band 8, arg2",
        "logrec": {"meta": META, "data": {"lisfor": "lightfullness", "nested": [{"a": 2}, ["123", "234"]]}},
    }


def test_a_json_logrecord_is_stored_in_the_same_schema_as_its_form(app: webtest.TestApp) -> None:
    by_form = app.get(f"/api/v1/record/{_post_form(app, LOGRECORD)}").json
    as_json = {**LOGRECORD, "args": list(LOGRECORD["args"])}
    by_json = app.get(f"/api/v1/record/{_post_json(app, as_json)}").json
    assert (by_json["data"], by_json["logrec"]) == (by_form["data"], by_form["logrec"])
    assert (by_json["data"]["file"], by_json["data"]["line"], by_json["data"]["function"]) == (
        "log.py",
        10,
        "info",
    )


def test_a_logrecord_name_is_queried_under_its_schema_name(app: webtest.TestApp) -> None:
    _post_json(app, {**LOGRECORD, "args": [8, "arg2"]})
    answer = app.head("/api/v1/record", params={"query": 'data.function = "info"'})
    assert answer.headers["X-Record-Count"] == "1"


def test_an_exception_is_in_logrec_error(app: webtest.TestApp) -> None:
    fields = {**LOGRECORD, "exc_text": "Traceback (most recent call last):\nZeroDivisionError"}
    record = app.get(f"/api/v1/record/{_post_form(app, fields)}").json
    assert record["logrec"]["error"]["exc_text"] == fields["exc_text"]
    assert record["data"]["exception"] == fields["exc_text"]


def test_ranges_have_the_records_with_logrec(app: webtest.TestApp) -> None:
    record_id = _post_form(app, LOGRECORD)
    (record,) = app.get("/api/v1/record", params={"left": "0", "right": "9"}).json
    assert (record["id"], record["logrec"]["meta"], record["data"]["lisfor"]) == (
        record_id,
        META,
        "lightfullness",
    )


def test_our_fields_come_beside_chronologers(app: webtest.TestApp) -> None:
    app.post("/api/v1/record", ndjson(wire("hello", created=BASE)), content_type=NDJSON, status=201)
    (record,) = app.get("/api/v1/record").json
    assert (record["ts"], record["time"], record["level_name"], record["service"]) == (
        "2025-11-22 08:26:40+00:00",
        "2025-11-22T08:26:40.000000Z",
        "INFO",
        "demo",
    )


def test_shape_chronologer_answers_its_fields_only(app: webtest.TestApp) -> None:
    record_id = _post_form(app, LOGRECORD)
    one = app.get(f"/api/v1/record/{record_id}", params={"shape": "chronologer"}).json
    (listed,) = app.get("/api/v1/record", params={"shape": "chronologer"}).json
    assert (list(one), listed) == (CHRONOLOGER_FIELDS, one)


def test_the_record_shape_setting_sets_the_default(
    sqlite_url: str, make_app: Callable[..., webtest.TestApp]
) -> None:
    app = make_app(sqlite_url, record_shape="chronologer")
    record_id = _post_form(app, LOGRECORD)
    assert list(app.get(f"/api/v1/record/{record_id}").json) == CHRONOLOGER_FIELDS
    assert "time" in app.get(f"/api/v1/record/{record_id}", params={"shape": "full"}).json


def test_an_unknown_shape_is_a_400(app: webtest.TestApp) -> None:
    answer = app.get("/api/v1/record", params={"shape": "flat"}, status=400).json
    assert (answer["type"], answer["parameter"]) == ("invalid_parameter", "shape")


def test_a_post_answers_the_stored_record_as_a_get_of_its_id(app: webtest.TestApp) -> None:
    body = urllib.parse.urlencode({key: str(value) for key, value in LOGRECORD.items()})
    posted = app.post("/api/v1/record", body, content_type=FORM, status=201).json
    got = app.get(f"/api/v1/record/{posted['id']}").json
    assert (posted.pop("stored"), posted.pop("duplicates"), posted.pop("errors"), posted) == (1, 0, [], got)


def test_a_post_in_chronologers_shape_answers_its_fields_only(app: webtest.TestApp) -> None:
    record = {**LOGRECORD, "args": [8, "arg2"]}
    posted = app.post("/api/v1/record?shape=chronologer", json.dumps(record), content_type="application/json")
    assert (posted.status_int, list(posted.json)) == (201, CHRONOLOGER_FIELDS)


def test_created_is_rounded_to_the_microsecond_as_chronologer_does(app: webtest.TestApp) -> None:
    # 1497106862.0635066 s: Chronologer's datetime says .063507, a truncation .063506.
    record_id = _post_form(app, {**LOGRECORD, "created": 1497106862.0635066})
    assert app.get(f"/api/v1/record/{record_id}").json["ts"] == "2017-06-10 15:01:02.063507+00:00"


def test_the_exception_tuple_text_is_kept_in_logrec_error(app: webtest.TestApp) -> None:
    fields = {**LOGRECORD, "exc_text": "Traceback ...", "exc_info": "(<class 'ZeroDivisionError'>, ...)"}
    record = app.get(f"/api/v1/record/{_post_form(app, fields)}").json
    assert record["logrec"]["error"] == {"exc_text": "Traceback ...", "exc_info": fields["exc_info"]}
