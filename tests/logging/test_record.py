from __future__ import annotations

import logging

from c2cwsgiutils import context
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
