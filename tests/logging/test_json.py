from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from c2cwsgiutils import context
from c2cwsgiutils.logging import ContextFilter, JsonFormatter, JsonLogHandler


@pytest.fixture
def json_logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = JsonLogHandler(stream, service="svc")
    logger = logging.getLogger("tests.json")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line_with_the_documented_fields(
    json_logger: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_logger
    logger.info("hello %s", "you", extra={"user": "bob", "count": 2})
    (line,) = lines(stream)
    assert line["msg"] == "hello you"
    assert line["level"] == 6
    assert line["level_name"] == "INFO"
    assert line["logger_name"] == "tests.json"
    assert line["function"] == "test_one_json_object_per_line_with_the_documented_fields"
    assert line["service"] == "svc"
    assert (line["user"], line["count"]) == ("bob", 2)
    for name in ("timestamp", "host", "pid", "thread_name", "process_name", "file", "line", "created"):
        assert name in line


def test_the_context_fields_are_in_every_line(json_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_logger
    with context.bind(request_id="rid", trace_id="a" * 32, span_id="b" * 16, kind="web"):
        logger.info("in")
    logger.info("out")
    inside, outside = lines(stream)
    assert (inside["request_id"], inside["trace_id"], inside["span_id"], inside["kind"]) == (
        "rid",
        "a" * 32,
        "b" * 16,
        "web",
    )
    assert (outside["request_id"], outside["trace_id"], outside["task_id"]) == ("", "", "")


def test_the_fields_of_the_filter_win_over_the_current_context() -> None:
    record = logging.LogRecord("x", logging.INFO, "f.py", 1, "m", (), None)
    with context.bind(request_id="at-creation"):
        ContextFilter().filter(record)
    assert json.loads(JsonFormatter().format(record))["request_id"] == "at-creation"


def test_an_unserializable_extra_becomes_its_repr(json_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_logger

    class Thing:
        def __repr__(self) -> str:
            return "<Thing>"

    logger.info("x", extra={"thing": Thing(), "ok": [1, 2]})
    (line,) = lines(stream)
    assert (line["thing"], line["ok"]) == ("<Thing>", [1, 2])


def test_a_circular_extra_still_writes_the_record(json_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_logger
    loop: list[Any] = []
    loop.append(loop)
    logger.info("circular", extra={"loop": loop})
    (line,) = lines(stream)
    assert line["msg"] == "circular"
    assert line["loop"] == "[[...]]"
    assert "encoding_error" in line


def test_a_repr_that_raises_still_writes_the_record(json_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_logger

    class Evil:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    logger.info("evil", extra={"evil": Evil()})
    (line,) = lines(stream)
    assert line["msg"] == "evil"
    assert line["evil"] == "<unrepresentable Evil>"


def test_a_broken_format_still_writes_the_record() -> None:
    # Straight to the handler: pytest's own capture handler would raise on this record.
    stream = io.StringIO()
    JsonLogHandler(stream).handle(
        logging.LogRecord("x", logging.INFO, "f.py", 1, "%d apples", ("many",), None)
    )
    (line,) = lines(stream)
    assert "%d apples" in line["msg"]
    assert "TypeError" in line["msg"]


def test_non_string_keys_in_an_extra_still_write_the_record(
    json_logger: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_logger
    logger.info("keys", extra={"mapping": {(1, 2): "tuple key"}})
    (line,) = lines(stream)
    assert line["msg"] == "keys"
    assert "tuple key" in line["mapping"]


def test_exceptions_carry_the_traceback(json_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_logger
    try:
        raise ValueError("bad value")
    except ValueError:
        logger.exception("failed")
    (line,) = lines(stream)
    assert line["level"] == 3
    assert "Traceback" in line["exception"]
    assert "ValueError: bad value" in line["exception"]


def test_unicode_is_written_as_is(json_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_logger
    logger.info("café ✓")
    assert "café ✓" in stream.getvalue()
    assert lines(stream)[0]["msg"] == "café ✓"


def test_a_message_with_newlines_stays_on_one_line(json_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_logger
    logger.info("one\ntwo")
    assert stream.getvalue().count("\n") == 1


def test_the_service_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C2C_SERVICE_NAME", "from-env")
    record = logging.LogRecord("x", logging.INFO, "f.py", 1, "m", (), None)
    assert json.loads(JsonFormatter().format(record))["service"] == "from-env"


def test_the_default_stream_is_stderr() -> None:
    import sys

    assert JsonLogHandler().stream is sys.stderr


def _records() -> list[logging.LogRecord]:
    def make(msg: str = "m %s", args: tuple[Any, ...] = ("x",), **extra: Any) -> logging.LogRecord:
        return logging.getLogger("tests.equivalence").makeRecord(
            "tests.equivalence", logging.INFO, '/a "quoted" path.py', 7, msg, args, None, "fn", extra
        )

    plain = make()
    with_extras = make(user='ü\n"', nested={"a": [1, 2.5, None]}, flag=True)
    with_filter = make()
    with context.bind(
        request_id='r"1', trace_id="t", span_id="s", parent_span_id="p", kind="web", task_id="k"
    ):
        ContextFilter().filter(with_filter)
    custom_level = make()
    custom_level.levelno, custom_level.levelname = 25, "NOTICE"
    try:
        raise KeyError("k")
    except KeyError:
        import sys

        failing = logging.getLogger("x").makeRecord("x", logging.ERROR, "f.py", 1, "boom", (), sys.exc_info())
    stacked = make()
    stacked.stack_info = "Stack (most recent call last):\n  here"
    not_a_string = make(msg=ValueError("as message"), args=())  # type: ignore[arg-type]
    collisions = make(level=99, host="h", timestamp="t", kind="batch", c2c_extra={"a": [1]}, uuid="u", n=1.5)
    filtered_collision = make(kind="batch", level=1.5)
    with context.bind(request_id="r2", kind="web"):
        ContextFilter().filter(filtered_collision)
    return [
        plain,
        with_extras,
        with_filter,
        custom_level,
        failing,
        stacked,
        not_a_string,
        collisions,
        filtered_collision,
    ]


@pytest.mark.parametrize("record", _records(), ids=lambda r: str(r.msg)[:10])
def test_the_json_text_is_exactly_the_documented_record(record: logging.LogRecord) -> None:
    from c2cwsgiutils.logging.record import record_to_dict

    with context.bind(request_id="current", kind="web"):
        formatted = json.loads(JsonFormatter(service="svc").format(record))
        expected = json.loads(json.dumps(record_to_dict(record, "svc")))
    assert list(formatted) == list(expected)
    # ``created`` is written with microsecond precision
    assert formatted.pop("created") == pytest.approx(expected.pop("created"), abs=1e-6)
    assert formatted == expected


def test_c2c_log_format_text_makes_the_handler_write_readable_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from c2cwsgiutils import context
    from c2cwsgiutils.logging import JsonLogHandler

    monkeypatch.setenv("C2C_LOG_FORMAT", "text")
    stream = io.StringIO()
    handler = JsonLogHandler(stream)
    logger = logging.getLogger("tests.console_text")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with context.bind(request_id="text-req-1"):
            logger.warning("hello %s", "there")
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    assert line.endswith(" WARNING [text-req-1] tests.console_text: hello there\n"), line
    assert not line.startswith("{")


def test_a_bad_c2c_log_format_keeps_json_and_fails_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from c2cwsgiutils import config
    from c2cwsgiutils.logging import JsonLogHandler

    monkeypatch.setenv("C2C_LOG_FORMAT", "yaml")
    stream = io.StringIO()
    handler = JsonLogHandler(stream)
    handler.handle(logging.LogRecord("x", logging.INFO, __file__, 1, "hi", (), None))
    assert json.loads(stream.getvalue())["msg"] == "hi"
    with pytest.raises(config.ConfigError, match="C2C_LOG_FORMAT"):
        config.validate_all({})
