"""A record's own fields are kept whatever they are called; the idempotency key is ours, per writer."""

from __future__ import annotations

import json
import sys
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
import webtest

from c2cwsgiutils.collector.intake import ingest
from tests.collector.records import httphandler_form, ndjson, wire

# The build of the form parser that ingest loaded (compiled or source, see c2cwsgiutils._compiled).
_form_core = sys.modules["c2cwsgiutils.collector.intake._form_core"]

NDJSON = "application/x-ndjson"
FORM = "application/x-www-form-urlencoded"
TOKENS = "alice:writer:a-secret,bob:writer:b-secret,ui:reader:r-secret"


def _data(app: webtest.TestApp, message: str, headers: dict[str, str] | None = None) -> list[Any]:
    """The ``data`` of every stored record whose message is ``message``."""
    query = {"query": f'message = "{message}"'}
    rows = app.get("/api/v1/record", params=query, headers=headers or {}).json
    return [app.get(f"/api/v1/record/{row['id']}", headers=headers or {}).json for row in rows]


def test_a_user_uuid_is_data_never_a_400_nor_a_key(app: webtest.TestApp) -> None:
    same = "0123456789abcdef" * 2
    single = json.dumps(wire("uuid-json", uuid="not hex"))
    app.post("/api/v1/record", single, content_type="application/json", status=201)
    twins = [wire("uuid-ndjson", uuid=same), wire("uuid-ndjson", uuid=same)]
    app.post("/api/v1/record", ndjson(*twins), content_type=NDJSON, status=201)
    app.post(
        "/api/v1/record", httphandler_form("uuid-form", (), uuid="not hex"), content_type=FORM, status=201
    )
    assert [r["data"]["uuid"] for r in _data(app, "uuid-json")] == ["not hex"]
    assert [r["data"]["uuid"] for r in _data(app, "uuid-ndjson")] == [same, same]
    assert [r["data"]["uuid"] for r in _data(app, "uuid-form")] == ["not hex"]


def test_records_with_the_same_user_uuid_and_no_key_are_all_stored(app: webtest.TestApp) -> None:
    records = [wire("twins", uuid="0123456789abcdef" * 2) for _ in range(2)]
    for record in records:
        del record["c2c_uuid"]
    answer = app.post("/api/v1/record", ndjson(*records), content_type=NDJSON, status=201).json
    assert (answer["stored"], answer["duplicates"]) == (2, 0)


def test_a_bad_c2c_uuid_names_the_field(app: webtest.TestApp) -> None:
    answer = app.post("/api/v1/record", ndjson(wire(c2c_uuid="xyz")), content_type=NDJSON, status=400).json
    assert "c2c_uuid must be 32 hexadecimal characters" in answer["errors"][0]["error"]


def test_keys_belong_to_their_writer(sqlite_url: str, make_app: Callable[..., webtest.TestApp]) -> None:
    app = make_app(sqlite_url, tokens=TOKENS)
    key = "ab" * 16
    alice = {"Content-Type": NDJSON, "Authorization": "Bearer a-secret"}
    bob = {"Content-Type": NDJSON, "Authorization": "Bearer b-secret"}
    # Bob guessed Alice's next key and sent it first: Alice's record is stored all the same.
    first = app.post("/api/v1/record", ndjson(wire("from bob", c2c_uuid=key)), headers=bob).json
    second = app.post("/api/v1/record", ndjson(wire("from alice", c2c_uuid=key)), headers=alice).json
    resent = app.post("/api/v1/record", ndjson(wire("from alice", c2c_uuid=key)), headers=alice).json
    assert [(a["stored"], a["duplicates"]) for a in (first, second, resent)] == [(1, 0), (1, 0), (0, 1)]
    reader = {"Authorization": "Bearer r-secret"}
    stored = {r["message"]: r["uuid"] for r in app.get("/api/v1/record", headers=reader).json}
    assert stored == {
        "from bob": ingest.scoped_key("bob", key),
        "from alice": ingest.scoped_key("alice", key),
    }


def test_a_resent_single_json_record_is_a_duplicate_of_its_writer(app: webtest.TestApp) -> None:
    record = wire("once")
    first = app.post("/api/v1/record", json.dumps(record), content_type="application/json", status=201).json
    again = app.post("/api/v1/record", json.dumps(record), content_type="application/json", status=200).json
    assert (again["id"], again["duplicates"]) == (first["id"], 1)


def test_c2c_extra_fields_never_overwrite_the_record_s_own(app: webtest.TestApp) -> None:
    extra = {"level": "user level", "timestamp": "t", "file": "user file", "host": "user host", "kind": "k"}
    record = wire("collide", c2c_extra=extra, user_id=3)
    app.post("/api/v1/record", ndjson(record), content_type=NDJSON, status=201)
    (stored,) = _data(app, "collide")
    assert (stored["level"], stored["host"], stored["kind"], stored["data"]["file"]) == (
        20,
        "web-1",
        "web",
        "/app/views.py",
    )
    data = stored["data"]
    assert (data["level"], data["timestamp"], data["host"], data["kind"], data["user_id"]) == (
        "user level",
        "t",
        "user host",
        "k",
        3,
    )
    assert data["c2c_extra"] == {"file": "user file"}  # data's own "file" is the record's


def test_a_c2c_extra_that_is_not_an_object_names_the_field(app: webtest.TestApp) -> None:
    answer = app.post("/api/v1/record", ndjson(wire(c2c_extra=[1])), content_type=NDJSON, status=400).json
    assert "c2c_extra must be a JSON object" in answer["errors"][0]["error"]


def test_form_extras_named_like_schema_fields_are_kept(app: webtest.TestApp) -> None:
    extra = {"level": "lvl", "timestamp": "ts", "file": "f.py", "line": 9, "host": "h", "service": "s"}
    app.post("/api/v1/record", httphandler_form("form-collide", (), **extra), content_type=FORM, status=201)
    (stored,) = _data(app, "form-collide")
    assert (stored["level"], stored["host"], stored["service"]) == (30, None, None)
    data = stored["data"]
    assert (data["file"], data["line"]) == ("/src/mod.py", 33)  # the record's own
    assert (data["level"], data["timestamp"], data["host"], data["service"]) == ("lvl", "ts", "h", "s")
    assert data["c2c_extra"] == {"file": "f.py", "line": 9}


LITERALS: dict[str, Any] = {
    "n": 7,
    "ratio": 1.5,
    "flag": True,
    "nothing": None,
    "items": [1, "a"],
    "mapping": {"a": 1, "b": [2]},
    "pair": (1, "x"),
    "word": "hello",
    "quoted": "'hello'",
    "digits": "007",
    "text": "7 apples",
}


def test_form_extras_keep_the_type_of_their_literals(app: webtest.TestApp) -> None:
    app.post("/api/v1/record", httphandler_form("typed", (), **LITERALS), content_type=FORM, status=201)
    (stored,) = _data(app, "typed")
    expected = {**LITERALS, "pair": [1, "x"]}
    assert {key: stored["data"][key] for key in LITERALS} == expected


def test_data_n_finds_the_record_whichever_way_it_was_sent(app: webtest.TestApp) -> None:
    app.post("/api/v1/record", httphandler_form("sent", (), n=7), content_type=FORM, status=201)
    app.post("/api/v1/record", json.dumps(wire("sent", n=7)), content_type="application/json", status=201)
    app.post("/api/v1/record", ndjson(wire("sent", n=7)), content_type=NDJSON, status=201)
    count = app.head("/api/v1/record", params={"query": "data.n = 7"}).headers["X-Record-Count"]
    assert count == "3"


def test_form_literal_evaluation_is_bounded() -> None:
    budget = [1]
    assert _form_core.extra_value("[1]", budget) == [1]
    assert _form_core.extra_value("[2]", budget) == "[2]"  # no budget left: text
    assert _form_core.extra_value("[" * 5000, [10]) == "[" * 5000
    assert _form_core.extra_value("[" * 100 + "]" * 100, [10]) == "[" * 100 + "]" * 100  # too deep
    assert _form_core.extra_value("1e999", [10]) == "1e999"  # not a JSON number
    assert _form_core.extra_value("{1, 2}", [10]) == "{1, 2}"  # a set
    assert _form_core.extra_value("{1: 2}", [10]) == {"1": 2}  # keys as json.dumps (Chronologer) writes them
    assert _form_core.extra_value("{(1, 2): 3}", [10]) == "{(1, 2): 3}"  # a key JSON has no text for
    assert _form_core.extra_value("{1: 2, '1': 3}", [10]) == "{1: 2, '1': 3}"  # two keys, one text


def test_message_wins_over_msg(app: webtest.TestApp) -> None:
    record = {**wire("user %s", args=["bob"]), "message": "user bob"}
    app.post("/api/v1/record", ndjson(record), content_type=NDJSON, status=201)
    record["c2c_uuid"] = "cd" * 16
    app.post("/api/v1/record", json.dumps(record), content_type="application/json", status=201)
    count = app.head("/api/v1/record", params={"query": 'message = "user bob"'}).headers["X-Record-Count"]
    assert count == "2"


@pytest.mark.parametrize(
    ("body", "content_type", "named"),
    [
        ("{}", "application/json", "msg"),
        ("", FORM, "msg, name, levelno"),
        ("msg=hello&name=app", FORM, "levelno"),
        ("levelno=20&name=app", FORM, "msg"),
        ("msg=hello&levelno=20", FORM, "name"),
    ],
)
def test_empty_records_are_refused_naming_what_is_missing(
    app: webtest.TestApp, body: str, content_type: str, named: str
) -> None:
    answer = app.post("/api/v1/record", body, content_type=content_type, status=400).json
    assert named in answer["message"]
    assert app.head("/api/v1/record").headers["X-Record-Count"] == "0"


def test_an_empty_ndjson_record_is_a_line_error(app: webtest.TestApp) -> None:
    answer = app.post("/api/v1/record", b"{}\n" + ndjson(wire()), content_type=NDJSON, status=207).json
    assert answer["errors"] == [{"line": 1, "error": "a record needs msg (or message): it has no message"}]


def test_form_with_only_stdlib_fields_is_unchanged() -> None:
    body = urllib.parse.urlencode({"msg": "m", "name": "n", "levelno": "20", "created": "5"}).encode()
    row = ingest.parse_form_body(body)
    assert (row[0], row[2], row[3], row[4], json.loads(row[-1])) == (None, 20, "n", "m", {})
