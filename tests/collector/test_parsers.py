"""What ``c2cwsgiutils-logs ingest`` reads from PostgreSQL, gunicorn and nginx log lines."""

from __future__ import annotations

from pathlib import Path

from c2cwsgiutils.collector.intake import parsers

LOGS = Path(__file__).parent / "logs"


def _lines(name: str) -> list[str]:
    return (LOGS / name).read_text().splitlines()


def test_slow_statement_keeps_its_duration_as_a_number() -> None:
    record = parsers.parse_pg_json(_lines("postgresql.json")[2])
    assert record is not None
    assert record["duration_ms"] == 1234.567
    assert record["statement"].startswith("SELECT pg_sleep(1.2)")


def test_jsonlog_request_id_and_kind_come_from_the_application_name() -> None:
    record = parsers.parse_pg_json(_lines("postgresql.json")[3])
    assert record is not None
    assert (record["request_id"], record["caller_kind"], record["task_id"]) == (
        "req-celery-9",
        "celery",
        "6f1c2a",
    )


def test_sqlcommenter_comment_gives_request_id_and_caller_span() -> None:
    statement = (
        "SELECT 1 /*request_id='abc%2Fdef',"
        "traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/"
    )
    assert parsers.parse_sql_comment(statement) == {
        "request_id": "abc/def",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "parent_span_id": "00f067aa0ba902b7",
    }


def test_comment_is_read_when_the_application_name_is_not_tagged() -> None:
    line = (
        '{"timestamp":"2026-11-22 10:15:02.345 UTC","error_severity":"LOG","application_name":"psql",'
        '"message":"duration: 3.5 ms  statement: SELECT 1 /*request_id=\'r-9\'*/"}'
    )
    record = parsers.parse_pg_json(line)
    assert record is not None
    assert (record["request_id"], record["duration_ms"]) == ("r-9", 3.5)


def test_pg_severity_becomes_a_python_level() -> None:
    record = parsers.parse_pg_json(_lines("postgresql.json")[4])
    assert record is not None
    assert (record["levelno"], record["state_code"]) == (40, "23505")


def test_pg_time_with_an_offset_is_converted_to_posix_seconds() -> None:
    record = parsers.parse_pg_json('{"timestamp":"2026-11-22 11:15:00.5 +01","message":"x"}')
    assert record is not None
    assert record["created"] == 1795342500.5


def test_csvlog_row_with_a_newline_in_the_statement() -> None:
    text = (LOGS / "postgresql.csv").read_text()
    first = text[: text.index("\n2026") + 1]
    assert not parsers.csv_complete(first.splitlines(keepends=True)[0])
    record = parsers.parse_pg_csv(first)
    assert record is not None
    assert (record["duration_ms"], record["request_id"], record["parent_span_id"], record["pid"]) == (
        2001.003,
        "req-csv-1",
        "b7ad6b7169203331",
        4250,
    )


def test_gunicorn_line_gives_request_id_status_and_duration() -> None:
    record = parsers.parse_access(_lines("gunicorn.log")[1], "gunicorn")
    assert record is not None
    assert (record["request_id"], record["status"], record["duration_ms"], record["levelno"]) == (
        "req-err-2",
        500,
        45.0,
        40,
    )
    assert record["logger_name"] == "gunicorn.access"


def test_nginx_request_time_is_converted_to_milliseconds() -> None:
    record = parsers.parse_access(_lines("nginx.log")[0], "nginx")
    assert record is not None
    assert (record["duration_ms"], record["request_id"], record["created"]) == (
        1305.0,
        "req-slow-1",
        1795342501.0,
    )


def test_nginx_dash_request_id_is_no_request_id() -> None:
    record = parsers.parse_access(_lines("nginx.log")[1], "nginx")
    assert record is not None
    assert "request_id" not in record


def test_formats_are_detected_from_the_first_line() -> None:
    detected = [
        parsers.detect_format(_lines(name)[0])
        for name in ("postgresql.json", "postgresql.csv", "gunicorn.log", "nginx.log")
    ]
    assert detected == ["pg-jsonlog", "pg-csvlog", "gunicorn", "nginx"]


def test_an_unknown_line_is_not_detected() -> None:
    assert parsers.detect_format("Nov 22 10:15:00 host sshd[1]: Accepted publickey") is None


def test_a_foreign_application_name_gives_no_field() -> None:
    assert parsers.parse_application_name("psql") == {}


def test_task_id_and_kind_come_from_the_comment_when_the_application_name_had_no_room() -> None:
    # A line written by PostgreSQL 15 for a statement of a Celery task of the demo: the 63-byte
    # application_name dropped ``task=``, the comment kept it.
    line = (
        '{"timestamp":"2026-11-22 13:44:57.795 UTC","user":"postgres","dbname":"postgres","pid":14863,'
        '"remote_host":"127.0.0.1","remote_port":45354,"session_id":"6b02f1d9.3a0f","line_num":1,'
        '"ps":"SELECT","session_start":"2026-11-22 13:44:57 UTC","vxid":"5/4","txid":0,'
        '"error_severity":"LOG","message":"duration: 503.819 ms  execute <unnamed>: '
        "/*kind='celery',request_id='pglog-6c496e3f6e1f47bc86e7eb02ea11eafc',"
        "task_id='8ab544b9-c99d-4f79-a75f-487cb24fd744',"
        "traceparent='00-d90c839b9eb6fc7bde934096b2577661-94e0e12b2ba79636-01'*/ SELECT pg_sleep($1)\","
        '"detail":"parameters: $1 = \'0.5\'","application_name":'
        '"rid=pglog-6c496e3f6e1f47bc86e7eb02ea11eafc,kind=celery","backend_type":"client backend",'
        '"query_id":0}'
    )
    record = parsers.parse_pg_json(line)
    assert record is not None
    assert (record["request_id"], record["task_id"], record["caller_kind"], record["kind"]) == (
        "pglog-6c496e3f6e1f47bc86e7eb02ea11eafc",
        "8ab544b9-c99d-4f79-a75f-487cb24fd744",
        "celery",
        "sql",
    )
    assert (record["duration_ms"], record["parent_span_id"]) == (503.819, "94e0e12b2ba79636")
    assert record["statement"].endswith("SELECT pg_sleep($1)")
