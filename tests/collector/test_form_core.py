"""The one-pass form path (_form_core) gives the general path's row, or leaves the form to it."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from c2cwsgiutils.collector import wire
from c2cwsgiutils.collector.intake import _form_core, ingest
from tests.collector.records import httphandler_form


def _general(body: bytes) -> tuple[Any, ...] | type[Exception]:
    try:
        return ingest.parse_form(ingest.form_fields(body), b"\x00" in body or b"%00" in body)
    except (ingest.BadRecord, ValueError) as exc:
        return type(exc)


def _same_or_declined(body: bytes) -> tuple[Any, ...] | None:
    fast = _form_core.usual_row(body, 0.0)
    if fast is not None:
        assert fast == _general(body)
    return fast


@pytest.mark.parametrize(
    ("message", "args", "extra"),
    [
        ("hello %s", ("world",), {}),
        ("%d items", (3,), {"user_id": 7}),
        ("%s and %s", ("a", "b"), {"request_id": "r" * 32, "span_id": "s" * 16}),
        ("%s", ("x",), {"n": 7, "ratio": 1.5, "flag": True, "nothing": None, "items": [1, (2, "b")]}),
        ("100% plain", (), {"note": "café & co = 1+1"}),
        ("%(x)s", ({"x": 1},), {}),
        ("bad %d", ("text",), {}),
    ],
)
def test_httphandler_forms_take_the_fast_path_with_the_same_row(
    message: str, args: tuple[Any, ...], extra: dict[str, Any]
) -> None:
    body = httphandler_form(message, args, **extra).encode()
    assert _same_or_declined(body) is not None


NAMES = st.sampled_from(
    [
        "name",
        "msg",
        "args",
        "levelname",
        "levelno",
        "pathname",
        "lineno",
        "funcName",
        "created",
        "msecs",
        "relativeCreated",
        "thread",
        "threadName",
        "process",
        "processName",
        "exc_info",
        "exc_text",
        "stack_info",
        "message",
        "uuid",
        "timestamp",
        "level",
        "host",
        "request_id",
        "kind",
        "file",
        "line",
        "logger_name",
        "c2c_uuid",
        "c2c_extra",
        "service",
        "user_id",
        "a b",
        "",
    ]
)
VALUES = st.one_of(
    st.sampled_from(["None", "", "0", "12", "007", "-5", "1e3", "nan", "inf", "1_5", "2" * 20, "17638e5"]),
    st.sampled_from(["0123456789abcdef" * 2, "0123456789ABCDEF" * 2, "xyz", "(1,)", "('a',)", "(1, 'b')"]),
    st.sampled_from(["True", "False", "1.5", "[1, {'a': None}]", "{1: 2}", "{'a'}", "2" * 30, "1e999"]),
    st.text(alphabet="ab%+=&é\x00 (),'12", max_size=12),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(NAMES, VALUES), max_size=14), st.booleans())
def test_random_forms_give_the_general_row_or_none(pairs: list[tuple[str, str]], base: bool) -> None:
    if base:  # the fields every HTTPHandler form has, so that many examples take the fast path
        pairs = [("msg", "m %s"), ("args", "(1,)"), ("levelno", "20"), ("created", "1763800000.25"), *pairs]
    _same_or_declined(urllib.parse.urlencode(pairs).encode())


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="ab=&%+;0C3A79fFé\x00 ", max_size=60))
def test_raw_bodies_give_the_general_row_or_none(text: str) -> None:
    _same_or_declined(("levelno=10&created=5&" + text).encode("latin-1"))


def test_the_constants_are_those_of_the_general_path() -> None:
    typed = {target for _key, target in ingest._INT_FIELDS + ingest._FLOAT_FIELDS}
    assert typed == wire.INTS | wire.FLOATS


@pytest.mark.parametrize(
    "extra",
    [
        [("exc_text", "None"), ("user", "x"), ("exc_text", "trace")],
        [("exc_text", "trace"), ("exc_text", "None")],
        [("user", "a"), ("user", "b")],
        [("host", "None"), ("host", "web-1")],
        [("host", "web-1"), ("host", "None")],
        [("msg", "other"), ("args", "None"), ("args", "(2,)")],
        [("message", "None"), ("message", "done")],
        [("levelname", "INFO"), ("levelname", "None")],
    ],
)
def test_repeated_names_give_the_general_row_or_none(extra: list[tuple[str, str]]) -> None:
    body = httphandler_form("m %s", (1,), user_id=3).encode() + b"&" + urllib.parse.urlencode(extra).encode()
    _same_or_declined(body)


@pytest.mark.parametrize(
    "extra",
    [
        {"note": "a%26b=c"},  # escapes of separators: unquoted field by field
        {"note": "x=y&z"},
        {"note": "caf\u00e9 \u0660"},  # an escaped multi-byte sequence
        {"note": "100%25 sure", "other": "%2F"},
    ],
)
def test_escapes_take_the_fast_path_with_the_same_row(extra: dict[str, str]) -> None:
    body = httphandler_form("m %s", (1,), **extra).encode()
    assert _same_or_declined(body) is not None
