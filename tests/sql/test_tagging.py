from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy
from pyramid.config import Configurator

from c2cwsgiutils import ConfigError, _guard, context
from c2cwsgiutils.sql import instrument, tagging
from tests.sql.conftest import count_sets

ON = tagging.TaggingSettings(enabled=True, mode="application_name")
COMMENT = tagging.TaggingSettings(enabled=True, mode="comment")
OWN_NAME = "SELECT current_setting('application_name')"
OWN_QUERY = "SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid()"


def scalar(engine: sqlalchemy.Engine, statement: str) -> Any:
    with engine.connect() as conn:
        value = conn.exec_driver_sql(statement).scalar()
        conn.commit()
        return value


# ---- application_name ----------------------------------------------------------------------


def test_application_name_carries_request_id_kind_and_pid() -> None:
    ctx = context.Context(request_id="3f2a", kind="web")
    assert tagging.application_name(ctx, pid="42") == "rid=3f2a,kind=web,pid=42"


def test_application_name_keeps_the_request_id_within_63_printable_ascii_bytes() -> None:
    ctx = context.Context(request_id="a" * 32, kind="celery", task_id="b" * 36)
    name = tagging.application_name(ctx, pid="4194304")
    assert name == f"rid={'a' * 32},kind=celery,pid=4194304"
    long_name = tagging.application_name(context.Context(request_id="é,=" + "x" * 100), pid="1")
    assert len(long_name.encode()) == 63
    assert long_name.startswith("rid=___xxx")
    assert all(33 <= ord(c) <= 126 for c in long_name)


def test_application_name_includes_the_task_id_when_it_fits() -> None:
    ctx = context.Context(request_id="r1", kind="celery", task_id="t-9")
    assert tagging.parse_application_name(tagging.application_name(ctx, pid="7")) == {
        "request_id": "r1",
        "kind": "celery",
        "pid": "7",
        "task_id": "t-9",
    }


def test_foreign_application_names_are_not_parsed() -> None:
    assert tagging.parse_application_name("psql") == {}
    assert tagging.parse_application_name("rid=1,foo=2") == {}


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_application_name_is_visible_in_pg_stat_activity(
    make_engine: Callable[..., Any], driver: str
) -> None:
    engine = make_engine(driver)
    tagging.instrument(engine, ON)
    with context.bind(request_id="req-visible", kind="web"):
        name = scalar(engine, "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()")
    assert name == f"rid=req-visible,kind=web,pid={os.getpid()}"


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_application_name_is_not_set_again_while_unchanged(
    make_engine: Callable[..., Any], sent: list[str], driver: str
) -> None:
    engine = make_engine(driver, pool_size=1, max_overflow=0)
    tagging.instrument(engine, ON)
    with context.bind(request_id="req-same", kind="web"):
        for _ in range(3):  # three transactions on the one pooled connection
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
                conn.exec_driver_sql("SELECT 2")
                conn.commit()
    with context.bind(request_id="req-same", kind="web"):  # an equal, new context
        assert scalar(engine, OWN_NAME).startswith("rid=req-same,")
    assert count_sets(sent) == 1


def test_application_name_is_set_again_when_the_request_changes(
    make_engine: Callable[..., Any], sent: list[str]
) -> None:
    engine = make_engine(pool_size=1, max_overflow=0)
    tagging.instrument(engine, ON)
    with context.bind(request_id="req-one", kind="web"):
        scalar(engine, "SELECT 1")
    with context.bind(request_id="req-two", kind="web"):
        assert scalar(engine, OWN_NAME).startswith("rid=req-two,")
    assert count_sets(sent) == 2


def test_application_name_set_at_transaction_start_survives_a_rollback(
    make_engine: Callable[..., Any], sent: list[str]
) -> None:
    # Set outside any transaction (autocommit), so a ROLLBACK cannot undo it: no second SET.
    engine = make_engine(pool_size=1, max_overflow=0)
    tagging.instrument(engine, ON)
    with context.bind(request_id="req-rolled-back", kind="web"), engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
        conn.rollback()
        assert conn.exec_driver_sql(OWN_NAME).scalar().startswith("rid=req-rolled-back,")
    assert count_sets(sent) == 1


def test_application_name_changed_inside_a_transaction_is_checked_again_later(
    make_engine: Callable[..., Any], sent: list[str]
) -> None:
    # A SET inside a transaction may be rolled back with it: the next context sets it again.
    engine = make_engine(pool_size=1, max_overflow=0)
    tagging.instrument(engine, ON)
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")  # opens the transaction
        with context.bind(request_id="req-inside", kind="web"):
            conn.exec_driver_sql("SELECT 2")
            conn.exec_driver_sql("SELECT 3")
        conn.rollback()
        with context.bind(request_id="req-inside", kind="web"):
            assert conn.exec_driver_sql(OWN_NAME).scalar().startswith("rid=req-inside,")
    assert count_sets(sent) == 3  # outside a request, inside the transaction, after the rollback


def test_outside_a_request_the_connection_drops_the_previous_request_id(
    make_engine: Callable[..., Any],
) -> None:
    engine = make_engine(pool_size=1, max_overflow=0)
    tagging.instrument(engine, ON)
    with context.bind(request_id="req-before", kind="web"):
        scalar(engine, "SELECT 1")
    assert scalar(engine, OWN_NAME) == f"pid={os.getpid()}"


# ---- comments ------------------------------------------------------------------------------


def test_comment_keys_are_sorted_and_values_url_encoded_and_quoted() -> None:
    ctx = context.Context(
        request_id="r 1", kind="web", route="it's/a*/route", trace_id="a" * 32, span_id="b" * 16
    )
    assert tagging.sql_comment(ctx) == (
        "/*kind='web',request_id='r%201',route='it\\'s%2Fa*%2Froute',"
        f"traceparent='00-{'a' * 32}-{'b' * 16}-03'*/"
    )


def test_comment_round_trips_through_the_parser() -> None:
    ctx = context.Context(request_id="r=1,2", kind="celery", task_id="t'1", route="a b")
    statement = tagging.add_comment("SELECT 1", tagging.sql_comment(ctx))
    assert tagging.parse_comment(statement) == {
        "kind": "celery",
        "request_id": "r=1,2",
        "route": "a b",
        "task_id": "t'1",
    }


def test_no_comment_outside_a_request() -> None:
    assert tagging.sql_comment(context.EMPTY) == ""


@pytest.mark.parametrize(
    "statement",
    ["", "   ", ";", "SELECT 1 /* mine */", "/* mine */ SELECT 1", "SELECT 1 -- mine"],
)
def test_empty_or_commented_statements_are_left_alone(statement: str) -> None:
    assert tagging.add_comment(statement, "/*request_id='x'*/") == statement


def test_comment_at_the_end_goes_before_the_semicolon() -> None:
    assert tagging.add_comment("SELECT 1;", "/*a='b'*/", "end") == "SELECT 1 /*a='b'*/;"
    assert tagging.add_comment("SELECT 1", "/*a='b'*/", "end") == "SELECT 1 /*a='b'*/"


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_comment_is_at_the_start_of_the_query_postgresql_sees(
    make_engine: Callable[..., Any], driver: str
) -> None:
    engine = make_engine(driver)
    tagging.instrument(engine, COMMENT)
    with context.bind(request_id="req-comment", kind="web", route="hello"):
        query = scalar(engine, OWN_QUERY)
    assert query == f"/*kind='web',request_id='req-comment',route='hello'*/ {OWN_QUERY}"


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
@pytest.mark.parametrize("params", [None, {"x": 1}])
def test_url_encoded_comment_survives_the_drivers_formatting(
    make_engine: Callable[..., Any], driver: str, params: Any
) -> None:
    engine = make_engine(driver)
    tagging.instrument(engine, COMMENT)
    statement = "SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    with context.bind(request_id="req 100%", route="a/b"), engine.connect() as conn:
        if params is None:
            query = conn.exec_driver_sql(statement).scalar()
        else:
            query = conn.execute(sqlalchemy.text(statement + " AND :x = 1"), params).scalar()
    assert tagging.parse_comment(query) == {"request_id": "req 100%", "route": "a/b"}


def test_comment_at_the_end_when_configured(make_engine: Callable[..., Any]) -> None:
    engine = make_engine()
    tagging.instrument(engine, tagging.TaggingSettings(enabled=True, mode="comment", position="end"))
    with context.bind(request_id="req-end"):
        assert scalar(engine, OWN_QUERY) == f"{OWN_QUERY} /*request_id='req-end'*/"


def test_already_commented_statement_runs_unchanged(make_engine: Callable[..., Any]) -> None:
    engine = make_engine()
    tagging.instrument(engine, COMMENT)
    statement = f"/* app's own */ {OWN_QUERY}"
    with context.bind(request_id="req-own"):
        assert scalar(engine, statement) == statement


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_composed_statements_get_the_comment(make_engine: Callable[..., Any], driver: str) -> None:
    sql = pytest.importorskip(f"{driver}.sql")
    engine = make_engine(driver)
    tagging.instrument(engine, COMMENT)
    composed = sql.SQL("SELECT {}, query FROM pg_stat_activity WHERE pid = pg_backend_pid()").format(
        sql.Literal(7)
    )
    with context.bind(request_id="req-composed"), engine.connect() as conn:
        value, query = conn.exec_driver_sql(composed).one()
    assert value == 7
    assert query.startswith("/*request_id='req-composed'*/ SELECT 7,")


def test_hook_leaves_an_empty_statement_to_the_driver(make_engine: Callable[..., Any]) -> None:
    engine = make_engine()
    tagging.instrument(engine, COMMENT)
    with (
        context.bind(request_id="req-empty"),
        engine.connect() as conn,
        pytest.raises(sqlalchemy.exc.ProgrammingError, match="empty query") as info,
    ):
        conn.exec_driver_sql(";")
    assert info.value.statement == ";"


def test_both_modes_tag_name_and_statement(make_engine: Callable[..., Any]) -> None:
    engine = make_engine()
    tagging.instrument(engine, tagging.TaggingSettings(enabled=True, mode="both"))
    with context.bind(request_id="req-both", kind="web"), engine.connect() as conn:
        name, query = conn.exec_driver_sql(
            "SELECT application_name, query FROM pg_stat_activity WHERE pid = pg_backend_pid()"
        ).one()
    assert name.startswith("rid=req-both,kind=web,")
    assert query.startswith("/*kind='web',request_id='req-both'*/ ")


# ---- switch --------------------------------------------------------------------------------


def test_disabled_tagging_adds_nothing(make_engine: Callable[..., Any], sent: list[str]) -> None:
    engine = make_engine()
    settings = tagging.TaggingSettings.from_settings(
        {"c2c.sql_request_id": "0", "c2c.sql_request_id_mode": "both"}
    )
    assert tagging.instrument(engine, settings) is False
    with context.bind(request_id="req-off", kind="web"):
        assert scalar(engine, OWN_QUERY) == OWN_QUERY
        assert "req-off" not in scalar(engine, OWN_NAME)
    assert count_sets(sent) == 0


def test_environment_variable_beats_the_ini_key(
    make_engine: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("C2C_SQL_REQUEST_ID", "false")
    config = Configurator(settings={"c2c.sql_request_id": "true", "c2c.sql_request_id_mode": "comment"})
    config.include("c2cwsgiutils.sql.tagging")
    engine = make_engine()
    instrument(engine, config)
    with context.bind(request_id="req-env"):
        assert scalar(engine, OWN_QUERY) == OWN_QUERY


def test_ini_key_turns_tagging_on_through_instrument(make_engine: Callable[..., Any]) -> None:
    config = Configurator(settings={"c2c.sql_request_id": "yes", "c2c.sql_request_id_mode": "comment"})
    engine = make_engine()
    instrument(engine, config)
    with context.bind(request_id="req-ini"):
        assert scalar(engine, OWN_QUERY).startswith("/*request_id='req-ini'*/")


@pytest.mark.parametrize(
    ("key", "value"), [("c2c.sql_request_id", "maybe"), ("c2c.sql_request_id_mode", "header")]
)
def test_invalid_settings_stop_start_up(key: str, value: str) -> None:
    config = Configurator(settings={key: value})
    with pytest.raises(ConfigError, match="C2C_SQL_REQUEST_ID"):
        config.include("c2cwsgiutils.sql.tagging")


def test_include_tags_engines_the_application_creates_itself(make_engine: Callable[..., Any]) -> None:
    config = Configurator(settings={"c2c.sql_request_id": "1", "c2c.sql_request_id_mode": "comment"})
    config.include("c2cwsgiutils.sql.tagging")
    engine = make_engine()  # created after the include, never passed to instrument()
    with context.bind(request_id="req-auto"):
        assert scalar(engine, OWN_QUERY).startswith("/*request_id='req-auto'*/ ")


def test_include_with_tagging_off_leaves_other_engines_alone(make_engine: Callable[..., Any]) -> None:
    config = Configurator(settings={"c2c.sql_request_id": "0"})
    config.include("c2cwsgiutils.pyramid")
    engine = make_engine()
    with context.bind(request_id="req-auto-off"):
        assert scalar(engine, OWN_QUERY) == OWN_QUERY


def test_sqlite_gets_the_comment_but_no_application_name(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from c2cwsgiutils.sql import hooks

    engine = sqlalchemy.create_engine("sqlite://")
    executed: list[str] = []
    # What SQLite really ran, as its own trace callback reports it.
    sqlalchemy.event.listen(
        engine, "connect", lambda dbapi_connection, _: dbapi_connection.set_trace_callback(executed.append)
    )
    instrument(engine)
    tagging.apply(
        hooks.hooks_for(engine.dialect),
        tagging.TaggingSettings.from_settings(
            {"c2c.sql_request_id": "true", "c2c.sql_request_id_mode": "both"}
        ),
    )
    with context.bind(request_id="sqlite-rid", kind="web"), engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SELECT 1")).scalar() == 1
    assert [statement for statement in executed if "SELECT 1" in statement] == [
        "/*kind='web',request_id='sqlite-rid'*/ SELECT 1"
    ]
    assert not any("application_name" in statement for statement in executed)
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


def test_an_instrumented_engine_goes_away_with_its_last_reference(pg_url: str) -> None:
    import gc
    import weakref

    engine = sqlalchemy.create_engine(sqlalchemy.make_url(pg_url).set(drivername="postgresql+psycopg2"))
    tagging.instrument(engine, COMMENT)
    with context.bind(request_id="gone"):
        assert "request_id='gone'" in scalar(engine, OWN_QUERY)
    engine.dispose()
    dialect = weakref.ref(engine.dialect)
    del engine
    gc.collect()
    assert dialect() is None  # the hooks live on the dialect: nothing global keeps it alive


def test_a_bug_in_the_tagging_never_fails_the_statement(
    make_engine: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(ctx: object) -> str:
        raise RuntimeError("a bug of ours")

    engine = make_engine()
    tagging.instrument(engine, tagging.TaggingSettings(enabled=True, mode="both"))
    monkeypatch.setattr(tagging, "application_name", broken)
    monkeypatch.setattr(tagging, "sql_comment", broken)
    _guard.reset()
    for request_id in ("req-a", "req-b", "req-c"):
        with context.bind(request_id=request_id):
            assert scalar(engine, OWN_QUERY) == OWN_QUERY  # run, untagged
    errors = [r for r in caplog.records if r.getMessage().startswith("Internal error of c2cwsgiutils")]
    # One per place (the application_name, the comment), not one per statement.
    assert sorted(str(r.args[0]) for r in errors) == [  # type: ignore[index]
        "setting the PostgreSQL application_name",
        "tagging a SQL statement",
    ]
