"""Parsers of the logs ``c2cwsgiutils-logs ingest`` reads, into records of the collector's wire schema.

- ``pg-jsonlog`` (PostgreSQL 15+ ``log_destination = 'jsonlog'``) and ``pg-csvlog``: logger
  ``postgresql``, the request id, kind, pid and task from an ``application_name`` written by
  c2cwsgiutils' SQL tagging (``rid=<id>,kind=<kind>,pid=<pid>,task=<id>``) and from a
  sqlcommenter comment in the statement (``/*kind='celery',request_id='<id>',task_id='<id>',
  traceparent='00-<trace>-<span>-01'*/``, values URL-encoded); a slow-statement message
  (``duration: 1234.567 ms  statement: ...``) keeps ``duration_ms`` as a number and the statement
  in ``statement``.
- ``gunicorn`` and ``nginx`` access logs in the combined format followed by ``key=value`` pairs:
  ``rid=`` (request id), ``ms=`` (milliseconds, gunicorn's ``%(M)s``), ``rt=`` (seconds, nginx's
  ``$request_time``), ``tp=`` (a W3C traceparent); docs/collector/cli.md gives the exact formats.

Each parser returns a dict (``created``, ``levelno``, ``logger_name``, ``msg``, context fields and
the rest as extra fields) or ``None`` for a line that is not a record of the format.
"""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.parse
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "FORMATS",
    "detect_format",
    "parse_access",
    "parse_application_name",
    "parse_pg_csv",
    "parse_pg_json",
    "parse_sql_comment",
]

FORMATS = ("pg-jsonlog", "pg-csvlog", "gunicorn", "nginx")

PG_LEVELS = {
    "DEBUG5": 10,
    "DEBUG4": 10,
    "DEBUG3": 10,
    "DEBUG2": 10,
    "DEBUG1": 10,
    "DEBUG": 10,
    "LOG": 20,
    "INFO": 20,
    "NOTICE": 20,
    "WARNING": 30,
    "ERROR": 40,
    "FATAL": 50,
    "PANIC": 50,
}
# csvlog columns (PostgreSQL 13: up to backend_type; 14+: leader_pid, query_id).
CSV_COLUMNS = (
    "log_time",
    "user",
    "dbname",
    "pid",
    "connection_from",
    "session_id",
    "line_num",
    "ps",
    "session_start",
    "vxid",
    "txid",
    "error_severity",
    "state_code",
    "message",
    "detail",
    "hint",
    "internal_query",
    "internal_position",
    "context",
    "statement",
    "cursor_position",
    "location",
    "application_name",
    "backend_type",
    "leader_pid",
    "query_id",
)
_APP_KEYS = {"rid": "request_id", "kind": "caller_kind", "pid": "caller_pid", "task": "task_id"}
_COMMENT = re.compile(r"/\*((?:[a-z_]+='[^']*',?)+)\*/")
_COMMENT_PAIR = re.compile(r"([a-z_]+)='([^']*)'")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}\Z")
_DURATION = re.compile(
    r"duration: (\d+(?:\.\d+)?) ms(?:\s+(?:statement|execute [^:]*|parse [^:]*|bind [^:]*): )?"
)
_PG_TIME = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)(?: (\S+))?\Z")
_CSV_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? [^,]*,")
_ACCESS = re.compile(
    r'(?P<remote>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" '
    r'(?P<status>\d{3}) (?P<bytes>\S+)(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)")?'
    r"(?P<rest>.*)\Z"
)
_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_application_name(name: str | None) -> dict[str, str]:
    """The fields of an ``application_name`` written by c2cwsgiutils' SQL tagging ({} otherwise)."""
    if not name:
        return {}
    result: dict[str, str] = {}
    for part in name.split(","):
        key, sep, value = part.partition("=")
        if not sep or key not in _APP_KEYS:
            return {}
        if value and value != "-":
            result[_APP_KEYS[key]] = value
    return result


def parse_sql_comment(statement: str | None) -> dict[str, str]:
    """The correlation fields of a sqlcommenter comment in ``statement`` ({} when there is none).

    ``request_id``, ``task_id``, ``caller_kind`` (the comment's ``kind``), ``trace_id`` and
    ``parent_span_id`` (the span of the traceparent: the caller's).

    The comment carries the task id even when the ``application_name`` had no room left for it.
    """
    if not statement or "/*" not in statement:
        return {}
    match = _COMMENT.search(statement)
    if not match:
        return {}
    result: dict[str, str] = {}
    for key, raw in _COMMENT_PAIR.findall(match.group(1)):
        value = urllib.parse.unquote(raw)
        if key == "request_id":
            result["request_id"] = value
        elif key == "task_id":
            result["task_id"] = value
        elif key == "kind":
            result["caller_kind"] = value
        elif key == "traceparent":
            result.update(_traceparent(value))
    return result


def _traceparent(value: str) -> dict[str, str]:
    match = _TRACEPARENT.match(value.strip().lower())
    if not match or match.group(1) == "0" * 32:
        return {}
    # The statement ran inside the caller's span: that span is the parent of the database's one.
    return {"trace_id": match.group(1), "parent_span_id": match.group(2)}


def _pg_time(text: str) -> float:
    match = _PG_TIME.match(text.strip())
    if not match:
        raise ValueError(f"not a PostgreSQL time: {text[:40]!r}")
    moment = datetime.fromisoformat(match.group(1))
    zone = match.group(2) or "UTC"
    if zone in ("UTC", "GMT", "Z"):
        return moment.replace(tzinfo=timezone.utc).timestamp()
    offset = re.fullmatch(r"([+-])(\d\d)(?::?(\d\d))?", zone)
    if offset:
        delta = timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3) or 0))
        tz = timezone(delta if offset.group(1) == "+" else -delta)
        return moment.replace(tzinfo=tz).timestamp()
    try:
        from zoneinfo import ZoneInfo

        return moment.replace(tzinfo=ZoneInfo(zone)).timestamp()
    except (ValueError, KeyError, OSError):
        return moment.replace(tzinfo=timezone.utc).timestamp()


def _pg_record(fields: dict[str, Any]) -> dict[str, Any]:
    """A wire record of PostgreSQL's fields (the jsonlog key names)."""
    severity = str(fields.get("error_severity") or "LOG").upper()
    message = str(fields.get("message") or "")
    record: dict[str, Any] = {
        "created": _pg_time(str(fields["timestamp"])),
        "levelno": PG_LEVELS.get(severity, 20),
        "logger_name": "postgresql",
        "msg": message,
        "kind": "sql",
        "pg_severity": severity,
    }
    statement = fields.get("statement") or None
    match = _DURATION.match(message)
    if match:
        record["duration_ms"] = float(match.group(1))
        if not statement and match.end() < len(message):
            statement = message[match.end() :]
    if statement:
        record["statement"] = statement
    for key in (
        "user",
        "dbname",
        "pid",
        "remote_host",
        "session_id",
        "line_num",
        "ps",
        "backend_type",
        "state_code",
        "detail",
        "hint",
        "context",
        "query_id",
        "application_name",
        "txid",
        "vxid",
    ):
        value = fields.get(key)
        if value not in (None, ""):
            integer = key in ("pid", "line_num", "txid", "query_id") and str(value).lstrip("-").isdigit()
            record[key] = int(value) if integer else value
    record.update(parse_application_name(fields.get("application_name")))
    for key, value in parse_sql_comment(statement or message).items():
        record.setdefault(key, value)
    return record


def parse_pg_json(line: str) -> dict[str, Any] | None:
    """A record of one PostgreSQL ``jsonlog`` line."""
    try:
        fields = json.loads(line)
    except ValueError:
        return None
    if not isinstance(fields, dict) or "timestamp" not in fields or "message" not in fields:
        return None
    try:
        return _pg_record(fields)
    except ValueError:
        return None


def parse_pg_csv(text: str) -> dict[str, Any] | None:
    """A record of one PostgreSQL ``csvlog`` row (``text`` may span lines: quoted newlines)."""
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error:
        return None
    if len(rows) != 1 or len(rows[0]) < 23:
        return None
    fields: dict[str, Any] = dict(zip(CSV_COLUMNS, rows[0], strict=False))
    fields["timestamp"] = fields.pop("log_time")
    if fields.get("connection_from"):
        fields["remote_host"] = fields.pop("connection_from")
    try:
        return _pg_record(fields)
    except ValueError:
        return None


def csv_complete(text: str) -> bool:
    """Whether ``text`` ends a csvlog row (its double quotes are balanced)."""
    return text.count('"') % 2 == 0


def _access_time(text: str) -> float:
    return datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z").timestamp()


def parse_access(line: str, flavour: str) -> dict[str, Any] | None:
    """A record of one gunicorn or nginx access log line (combined format + ``key=value`` pairs)."""
    match = _ACCESS.match(line.rstrip("\r\n"))
    if not match:
        return None
    try:
        created = _access_time(match.group("time"))
    except ValueError:
        return None
    status = int(match.group("status"))
    request = match.group("request")
    method, _, rest = request.partition(" ")
    path = rest.rsplit(" ", 1)[0] if " HTTP/" in rest else rest
    record: dict[str, Any] = {
        "created": created,
        "levelno": 40 if status >= 500 else 30 if status >= 400 else 20,
        "logger_name": f"{flavour}.access",
        "kind": "access",
        "remote_addr": match.group("remote"),
        "method": method,
        "path": path,
        "status": status,
    }
    if match.group("user") != "-":
        record["remote_user"] = match.group("user")
    size = match.group("bytes")
    if size.isdigit():
        record["bytes"] = int(size)
    for key in ("referer", "agent"):
        value = match.group(key)
        if value and value != "-":
            record["referer" if key == "referer" else "user_agent"] = value
    for key, raw in _PAIR.findall(match.group("rest")):
        value = raw[1:-1] if raw.startswith('"') else raw
        if value in ("", "-"):
            continue
        if key == "rid":
            record["request_id"] = value
        elif key == "ms":
            record["duration_ms"] = _number(value)
        elif key == "rt":
            record["duration_ms"] = round(_number(value) * 1000, 3)
        elif key == "tp":
            record.update(_traceparent(value))
        else:
            record[key] = value
    duration = record.get("duration_ms")
    shown = f" {duration:.1f} ms" if isinstance(duration, float) else ""
    record["msg"] = f"{request} {status}{shown}"
    return record


def _number(text: str) -> float:
    try:
        return float(text.rsplit(",", maxsplit=1)[-1].strip())  # nginx: "0.002, 0.010" for several upstreams
    except ValueError:
        return 0.0


def detect_format(first_line: str) -> str | None:
    """The format of a file from its first non-empty line, when it is obvious; else ``None``."""
    line = first_line.strip()
    if line.startswith("{"):
        try:
            fields = json.loads(line)
        except ValueError:
            return None
        if isinstance(fields, dict) and "error_severity" in fields and "timestamp" in fields:
            return "pg-jsonlog"
        return None
    if _CSV_START.match(line):
        return "pg-csvlog"
    match = _ACCESS.match(line)
    if match:
        pairs = dict(_PAIR.findall(match.group("rest")))
        if "ms" in pairs:
            return "gunicorn"
        if "rt" in pairs:
            return "nginx"
    return None
