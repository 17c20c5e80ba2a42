"""The fast parsers keep what the stdlib parsers read: forms as parse_qsl, numbers exactly."""

from __future__ import annotations

import json
import time
import urllib.parse
from unittest.mock import patch

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from c2cwsgiutils.collector.intake import _batch_core, ingest
from tests.collector.records import BASE, httphandler_form, ndjson, wire

FORM_TEXT = st.text(alphabet="ab=&%+;0C3A79fFé\x00 ", max_size=40)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FORM_TEXT)
def test_form_fields_reads_like_parse_qsl(text: str) -> None:
    body = text.encode("latin-1")
    expected = urllib.parse.parse_qsl(text, keep_blank_values=True, max_num_fields=10_000)
    assert ingest.form_fields(body) == expected


def test_form_fields_decode_utf8_escapes_and_plus() -> None:
    body = b"msg=caf%C3%A9+au+lait&bad=%C3&raw=\xe9&name%3D=a%26b"
    assert ingest.form_fields(body) == [
        ("msg", "café au lait"),
        ("bad", "\ufffd"),
        ("raw", "é"),
        ("name=", "a&b"),
    ]


def test_form_with_too_many_fields_is_refused() -> None:
    with pytest.raises(ValueError, match="Max number of fields"):
        ingest.form_fields(b"a=1" + b"&a=1" * 10_000)


def test_httphandler_form_row_holds_the_formatted_message_and_typed_attributes() -> None:
    row = ingest.parse_form_body(httphandler_form("hello %s", ("you",), user_id=3).encode())
    data = json.loads(row[-1])
    assert (row[3], row[4], data["line"], data["pid"] > 0, data["user_id"]) == (
        "tests.collector.form",
        "hello you",
        33,
        True,
        3,
    )


def test_form_nan_is_kept_as_text_and_stays_valid_json() -> None:
    row = ingest.parse_form_body(b"msg=m&name=n&levelno=20&msecs=nan&relativeCreated=inf")
    assert json.loads(row[-1]) == {"msecs": "nan", "relativeCreated": "inf"}


def test_form_integer_fields_are_converted_only_when_plain_integers() -> None:
    body = b"msg=m&name=n&lineno=-5&process=%C2%B2&thread=12345678901234567890&levelno=007&msecs=1_5"
    data = json.loads(ingest.parse_form_body(body)[-1])
    assert data == {"line": -5, "pid": "\u00b2", "thread": "12345678901234567890", "msecs": 15.0}


def test_form_created_must_be_a_finite_number() -> None:
    with pytest.raises(ingest.BadRecord, match="created must be a number"):
        ingest.parse_form_body(b"msg=m&name=n&levelno=20&created=nan")


@pytest.mark.parametrize("number", [2**64 + 1, -(2**63) - 1, 10**30, 1234567890123456789])
def test_integers_of_any_size_are_kept_exactly(number: int) -> None:
    batch = ingest.parse_ndjson(ndjson(wire(big=number, nested={"list": [number]})), 10)
    data = json.loads(batch.rows[0][-1])
    assert (data["big"], data["nested"]["list"][0]) == (number, number)


def test_lines_the_fast_decoder_refuses_get_the_stdlib_error_or_replacement() -> None:
    body = b'{"msg": "a\\ud800b"}\n{"x": NaN}\n{"x": 1e400}\n{"x": "\t"}\n{"msg": "\\u0000"}\n'
    batch = ingest.parse_ndjson(body, 10)
    assert [row[4] for row in batch.rows] == ["a\ufffdb", "\ufffd"]
    assert [(error["line"], error["error"]) for error in batch.errors] == [
        (2, "NaN is not valid JSON"),
        (3, "number out of range: 1e400"),
        (4, "invalid JSON: Invalid control character at: line 1 column 8 (char 7)"),
    ]


def test_data_keeps_every_extra_field_and_unicode() -> None:
    record = wire(user={"name": "José", "tags": ["a", "€"]}, ratio=0.1, flag=True, empty=None)
    row = ingest.record_to_row(record, time.time())
    data = json.loads(row[-1])
    assert {key: data[key] for key in ("user", "ratio", "flag", "empty")} == {
        "user": {"name": "José", "tags": ["a", "€"]},
        "ratio": 0.1,
        "flag": True,
        "empty": None,
    }


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["", "x" * 600, "a\x00b", "A" * 32, "0" * 32, "g" * 32, "INFO", "WARNING"]),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = [*wire(), "message", "name", "extra", "uuid", "c2c_extra"]


# Generating these batches can take seconds when other jobs load the machine (CI failed so).
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(FIELDS), max_size=4),  # fields to drop
            st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=3),  # fields to set
        ),
        min_size=1,
        max_size=4,
    )
)
def test_ndjson_batches_give_the_rows_and_errors_of_the_general_path(
    changes: list[tuple[list[str], dict[str, object]]],
) -> None:
    # parse_ndjson takes the usual records by a shorter path: whatever the record, it must give
    # what the general path (one line at a time) gives.
    lines = []
    for drop, fields in changes:
        record = wire()
        for name in drop:
            record.pop(name, None)
        record.update(fields)
        lines.append(json.dumps(record).encode())
    with patch("time.time", return_value=BASE):
        batch = ingest.parse_ndjson(b"\n".join(lines), 10)
        expected_rows, expected_errors = [], []
        for number, line in enumerate(lines, 1):
            try:
                expected_rows.append(ingest.parse_line(line, BASE))
            except ingest.BadRecord as exc:
                expected_errors.append({"line": number, "error": str(exc)})
    assert (batch.rows, batch.errors, batch.lines) == (expected_rows, expected_errors, len(lines))


def test_usual_records_take_the_short_path() -> None:
    # A c2cwsgiutils record, with extra fields of every kind: the short path gives its row.
    record = wire(user={"name": "José", "tags": ["a", 1.5]}, ratio=0.1, flag=True, empty=None)
    line = json.dumps(record).encode()
    row = _batch_core.usual_row(orjson.loads(line))
    assert row == ingest.record_to_row(record, BASE)


def test_brackets_inside_strings_are_not_nesting() -> None:
    batch = ingest.parse_ndjson(ndjson(wire("[" * 100 + "{" * 100)), 10)
    assert (batch.errors, batch.rows[0][4]) == ([], "[" * 100 + "{" * 100)


def _nested(levels: int) -> object:
    # ``levels`` containers inside the record (whose own braces make one level more).
    nested: object = "x"
    for level in range(levels):
        nested = [nested] if level % 2 else {"k": nested}
    return nested


@pytest.mark.parametrize(
    ("record", "accepted"),
    [
        # Strings full of brackets and quotes: no nesting at all.
        (wire("[" * 100 + "{" * 100), True),
        (wire('\\"[' * 100, extra="{" * 70), True),
        # 64 levels in all (the record's braces and 63 containers): the limit.
        (wire(deep=_nested(63)), True),
        (wire(deep=_nested(64)), False),
        (wire(deep=_nested(64), note="[" * 10), False),
    ],
)
@pytest.mark.parametrize("path", ["short", "general", "json object"])
def test_nesting_depth_is_structural_and_the_same_on_every_path(
    record: dict[str, object], accepted: bool, path: str
) -> None:
    if path == "general":
        record = {**record, "message": "not the usual shape"}  # the short path declines it
    line = json.dumps(record).encode()
    if path == "json object":
        try:
            ingest.parse_json_object(line)
            errors = []
        except ingest.BadRecord as exc:
            errors = [{"line": 1, "error": str(exc)}]
    else:
        errors = ingest.parse_ndjson(line, 10).errors
    expected = [] if accepted else [{"line": 1, "error": "nested deeper than 64 levels"}]
    assert expected == errors


def test_records_nested_too_deep_are_refused() -> None:
    nested: object = 1
    for _ in range(70):
        nested = [nested]
    batch = ingest.parse_ndjson(ndjson(wire(deep=nested)), 10)
    assert batch.errors == [{"line": 1, "error": "nested deeper than 64 levels"}]


def _structural_depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_structural_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_structural_depth, value), default=0)
    return 0


_TRICKY = st.sampled_from(['a"b', "\\", '\\"', "[{" * 20, '"]}', '\\\\"[[[[', "x"])


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        _TRICKY,
        lambda inner: st.lists(inner, max_size=2) | st.dictionaries(_TRICKY, inner, max_size=2),
        max_leaves=80,
    ),
    st.integers(55, 70),
)
def test_depth_check_counts_structure_only(value: object, wrap: int) -> None:
    for _ in range(wrap):
        value = [value]
    line = json.dumps(value).encode()
    assert ingest._too_deep(line) == (_structural_depth(value) > 64)


@pytest.mark.parametrize(
    "line",
    [
        # The hostile line of issue #18: the old regular expression backtracked over it in O(n²).
        b"[" * 65 + b'"' + b'\\"' * 500_000,
        b"[" * 65 + b'"' + b"\\\\" * 500_000,
        b'{"a": "' + b'\\"' * 500_000 + b"[" * 70,
        b"[" * 1_000_000,
        b'["' * 500_000,
    ],
)
def test_a_hostile_megabyte_line_is_refused_in_linear_time(line: bytes) -> None:
    start = time.perf_counter()
    batch = ingest.parse_ndjson(line, 10)
    elapsed = time.perf_counter() - start
    assert batch.rows == []
    assert len(batch.errors) == 1
    assert elapsed < 1.0, f"{len(line)} bytes took {elapsed:.2f} s"
