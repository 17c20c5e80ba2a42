from __future__ import annotations

import logging

from c2cwsgiutils import context
from c2cwsgiutils.logging.filter import ContextFilter
from c2cwsgiutils.logging.record import record_to_dict, syslog_level


def make_record(
    msg: str = "hello %s", args: tuple[object, ...] = ("world",), **extra: object
) -> logging.LogRecord:
    record = logging.getLogger("tests.record").makeRecord(
        "tests.record", logging.WARNING, "/src/app.py", 12, msg, args, None, "view", extra
    )
    return record


def test_schema_has_the_documented_fields() -> None:
    data = record_to_dict(make_record(), service="demo")
    assert data["msg"] == "hello world"
    assert data["level"] == 4
    assert data["level_name"] == "WARNING"
    assert data["logger_name"] == "tests.record"
    assert (data["file"], data["line"], data["function"]) == ("/src/app.py", 12, "view")
    assert data["service"] == "demo"
    assert data["timestamp"].endswith("Z")


def test_extras_are_kept() -> None:
    data = record_to_dict(make_record(user_id=42, tags=["a"]))
    assert data["user_id"] == 42
    assert data["tags"] == ["a"]


def test_context_fields_come_from_the_current_context() -> None:
    with context.bind(request_id="rid-1", trace_id="t" * 32, kind="web"):
        data = record_to_dict(make_record())
    assert (data["request_id"], data["trace_id"], data["kind"]) == ("rid-1", "t" * 32, "web")


def test_outside_a_request_context_fields_are_empty() -> None:
    assert record_to_dict(make_record())["request_id"] == ""


def test_a_broken_format_still_gives_a_record() -> None:
    data = record_to_dict(make_record("%d items", ("many",)))
    assert "%d items" in data["msg"]


def test_exception_is_formatted() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        record = make_record()
        record.exc_info = sys.exc_info()
    assert "ValueError: bad" in record_to_dict(record)["exception"]


def test_custom_levels_map_to_syslog() -> None:
    assert syslog_level(25) == 6
    assert syslog_level(5) == 7
    assert syslog_level(45) == 3


def test_an_extra_named_like_a_schema_field_goes_into_c2c_extra_and_never_replaces_it() -> None:
    collisions: dict[str, object] = {
        "level": 99,
        "host": "h",
        "timestamp": "t",
        "file": "f",
        "line": -1,
        "service": "s",
    }
    data = record_to_dict(
        make_record("hello %s", ("world",), **collisions, c2c_uuid="x", c2c_extra={"a": 1}, user_id=7),
        service="demo",
    )
    assert (data["level"], data["service"], data["file"], data["line"]) == (4, "demo", "/src/app.py", 12)
    assert data["host"] != "h"
    assert data["timestamp"] != "t"
    assert "c2c_uuid" not in data
    assert data["c2c_extra"] == {**collisions, "c2c_uuid": "x", "c2c_extra": {"a": 1}}
    assert data["user_id"] == 7


def test_a_correlation_named_extra_without_request_id_is_kept_in_c2c_extra() -> None:
    with context.bind(request_id="rid", kind="web"):
        data = record_to_dict(make_record(kind="batch", task_id="t-1"))
    assert (data["request_id"], data["kind"], data["task_id"]) == ("rid", "web", "")
    assert data["c2c_extra"] == {"kind": "batch", "task_id": "t-1"}


def test_a_correlation_named_extra_survives_the_context_filter() -> None:
    record = make_record(kind="batch")
    with context.bind(request_id="rid", kind="web"):
        ContextFilter().filter(record)
    data = record_to_dict(record)
    assert (data["request_id"], data["kind"]) == ("rid", "web")
    assert data["c2c_extra"] == {"kind": "batch"}


def test_uuid_is_user_data_like_any_other_extra() -> None:
    data = record_to_dict(make_record(uuid="not-hex"))
    assert data["uuid"] == "not-hex"
    assert "c2c_extra" not in data
