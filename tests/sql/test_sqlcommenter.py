"""The sqlcommenter format: the specification's examples, comment detection, reading back safely."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy

from c2cwsgiutils import context
from c2cwsgiutils.sql import activity, tagging
from c2cwsgiutils.sql.sqlcommenter import add_comment, comments, has_comment, parse_comment, serialize

TRACEPARENT = "00-5bd66ef5095369c7b0d1f8f4bd33716a-c532cb4098ac3dd2-01"
TRACESTATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
EXHIBIT = (
    "SELECT * FROM FOO /*action='%2Fparam*d',controller='index',framework='spring',"
    f"traceparent='{TRACEPARENT}',tracestate='congo%3Dt61rcWkgMzE%2Crojo%3D00f067aa0ba902b7'*/"
)

# ---- the specification's examples (https://google.github.io/sqlcommenter/spec/) ------------------


@pytest.mark.parametrize(
    ("value", "serialized"),
    [
        ("DROP TABLE FOO", "'DROP%20TABLE%20FOO'"),
        ("/param first", "'%2Fparam%20first'"),
        ("1234", "'1234'"),
        ("DROP", "'DROP'"),
        ("FOO 'BAR", "'FOO%20\\'BAR'"),
        ("/polls 1000", "'%2Fpolls%201000'"),
        ("/param*d", "'%2Fparam*d'"),
    ],
)
def test_value_serialization(value: str, serialized: str) -> None:
    assert serialize({"route": value}) == f"/*route={serialized}*/"


def test_sorting_and_concatenation_exhibit() -> None:
    fields = {
        "traceparent": TRACEPARENT,
        "tracestate": TRACESTATE,
        "route": "/param*d",
        "controller": "index",
    }
    assert serialize(fields) == (
        f"/*controller='index',route='%2Fparam*d',traceparent='{TRACEPARENT}',"
        "tracestate='congo%3Dt61rcWkgMzE%2Crojo%3D00f067aa0ba902b7'*/"
    )


def test_concatenation_of_nothing_is_empty() -> None:
    assert serialize({}) == serialize({"route": ""}) == ""


def test_affix_comment_exhibit() -> None:
    assert add_comment("SELECT * from FOO", "", "end") == "SELECT * from FOO"
    assert add_comment("SELECT * from FOO", serialize({"route": "/param*d"}), "end") == (
        "SELECT * from FOO /*route='%2Fparam*d'*/"
    )


def test_sql_commenter_exhibit() -> None:
    # The specification's text has "controller='index,'framework": a typo for the obvious.
    attributes = {
        "tracestate": TRACESTATE,
        "traceparent": TRACEPARENT,
        "framework": "spring",
        "action": "/param*d",
        "controller": "index",
    }
    assert add_comment("SELECT * FROM FOO", serialize(attributes), "end") == EXHIBIT


def test_parsing_exhibit() -> None:
    # As printed in the specification: the pairs on several lines.
    statement = EXHIBIT.replace("spring',", "spring',\n").replace("-01',", "-01',\n")
    assert parse_comment(statement) == {
        "action": "/param*d",
        "controller": "index",
        "framework": "spring",
        "traceparent": TRACEPARENT,
        "tracestate": TRACESTATE,
    }


@pytest.mark.parametrize(
    "statement", ["SELECT * from FOO -- this is the comment", "SELECT * from FOO /* this is the comment */"]
)
def test_a_statement_with_a_comment_is_not_mutated(statement: str) -> None:
    assert add_comment(statement, "/*route='x'*/", "end") == statement
    assert add_comment(statement, "/*route='x'*/", "start") == statement


def test_the_comment_carries_the_tracestate_when_there_is_one() -> None:
    ctx = context.Context(
        request_id="r", trace_id="5bd66ef5095369c7b0d1f8f4bd33716a", span_id="c532cb4098ac3dd2"
    )
    assert "tracestate" not in tagging.sql_comment(ctx)
    statement = add_comment("SELECT 1", tagging.sql_comment(ctx._replace(tracestate=TRACESTATE)))
    assert parse_comment(statement)["tracestate"] == TRACESTATE


# ---- what is a comment ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT '--x'",
        "SELECT '/* x */'",
        "SELECT 'it''s -- not'",
        "SELECT E'\\' -- still a string'",
        "SELECT e'\\\\' || '/*'",
        'SELECT "a--b" FROM t',
        'SELECT "a""/*" FROM t',
        "SELECT $$ -- $$",
        "SELECT $body$ $$ /* $$ $body$",
        "SELECT a$b FROM t WHERE x = $1",
        "SELECT 1 - -1",
        "SELECT 2 / *3",
    ],
)
def test_comment_markers_inside_literals_are_not_comments(statement: str) -> None:
    assert not has_comment(statement)
    assert add_comment(statement, "/*request_id='x'*/") == f"/*request_id='x'*/ {statement}"


@pytest.mark.parametrize(
    ("statement", "found"),
    [
        ("SELECT 1 -- c", ["-- c"]),
        ("SELECT 1 -- c\nFROM t -- d", ["-- c\n", "-- d"]),
        ("SELECT '--' /* c */", ["/* c */"]),
        ("SELECT 1 /* a /* nested */ still */ + 1", ["/* a /* nested */ still */"]),
        ("SELECT $$x$$ /* c */", ["/* c */"]),
        ("SELECT 1 /* not closed", ["/* not closed"]),
    ],
)
def test_real_comments_are_found(statement: str, found: list[str]) -> None:
    assert [statement[start:end] for start, end, _ in comments(statement)] == found
    assert has_comment(statement)


# ---- reading back: the last real comment, never a literal ----------------------------------------

SPOOF = "/*kind='cli',request_id='victim'*/"


def test_the_last_comment_is_read() -> None:
    assert parse_comment("/*request_id='first'*/ SELECT 1 /*request_id='last'*/") == {"request_id": "last"}


@pytest.mark.parametrize("position", ["start", "end"])
def test_a_comment_inside_a_string_literal_is_never_read(position: str) -> None:
    # What psycopg2 sends for "SELECT %s" with the parameter SPOOF: the value as a literal.
    statement = add_comment(
        "SELECT '/*kind=''cli'',request_id=''victim''*/'", "/*request_id='real'*/", position
    )
    assert parse_comment(statement) == {"request_id": "real"}
    assert parse_comment("SELECT '/*kind=''cli'',request_id=''victim''*/'") == {}


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELECT 1 /* a free comment */", {}),
        ("SELECT 1 /*request_id='x' and more*/", {}),
        ("SELECT 1 /*request_id='x'", {}),
        ("SELECT 1 /* /*request_id='nested'*/", {}),
        ("SELECT 1 /*request_id='x'*/ -- and a line comment /*request_id='y'*/", {"request_id": "x"}),
    ],
)
def test_only_a_complete_sqlcommenter_comment_is_read(statement: str, expected: dict[str, str]) -> None:
    assert parse_comment(statement) == expected


def test_a_line_comment_after_ours_does_not_hide_it() -> None:
    assert parse_comment("SELECT 1 /*request_id='x'*/ -- /*request_id='y'*/") == {"request_id": "x"}


def test_a_statement_cut_inside_a_literal_gives_nothing() -> None:
    assert parse_comment("/*request_id='x'*/ SELECT '/*request_id=''y''*/ and cut") == {"request_id": "x"}
    assert parse_comment("SELECT '/*request_id=''y''*/ and cut") == {}


def test_a_string_with_dashes_gets_the_comment_through_the_driver(
    make_engine: Callable[..., Any], sent: list[str]
) -> None:
    engine = make_engine("psycopg2")
    tagging.instrument(engine, tagging.TaggingSettings(enabled=True, mode="comment"))
    with context.bind(request_id="req-dashes"), engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT '--x'").scalar() == "--x"
    assert sent[-1] == "/*request_id='req-dashes'*/ SELECT '--x'"


@pytest.mark.parametrize("position", ["start", "end"])
def test_a_parameter_cannot_spoof_the_request_id_in_the_activity_view(
    make_engine: Callable[..., Any], pg_url: str, position: str
) -> None:
    """psycopg2 puts the parameters in the statement's text, which pg_stat_activity shows."""
    engine = make_engine("psycopg2")
    tagging.instrument(engine, tagging.TaggingSettings(enabled=True, mode="comment", position=position))
    marker = uuid.uuid4().hex
    request_id = f"real-{marker}"
    errors: list[BaseException] = []

    def run() -> None:
        with context.bind(request_id=request_id, kind="web"), engine.connect() as conn:
            try:
                conn.execute(
                    sqlalchemy.text("SELECT pg_sleep(30), :spoof, :marker"),
                    {"spoof": SPOOF, "marker": marker},
                )
            except sqlalchemy.exc.OperationalError:  # cancelled below
                pass
            except BaseException as exc:
                errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    admin = sqlalchemy.create_engine(pg_url)
    try:
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + 15
        while not found and time.monotonic() < deadline and thread.is_alive():
            found = [
                e
                for e in activity.running_queries(admin)
                # the statement itself (the marker is in the request id of every one of them)
                if "pg_sleep" in (e["db_metadata"]["query"] or "")
                and f"'{marker}'" in e["db_metadata"]["query"]
            ]
            time.sleep(0.05) if not found else None
        [entry] = found
        assert SPOOF.replace("'", "''") in entry["db_metadata"]["query"]
        assert entry["app_metadata"]["request_id"] == request_id
        assert entry["app_metadata"]["kind"] == "web"
    finally:
        with admin.connect() as conn:
            conn.execute(
                sqlalchemy.text(
                    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE :pattern "
                    "AND pid <> pg_backend_pid()"
                ),
                {"pattern": f"%{marker}%"},
            )
        admin.dispose()
        thread.join(15)
    assert not errors
