"""``GET /api/v1/stream``: new records as Server-Sent Events, with the filters of ``/api/v1/record``.

Each record is one event: ``id`` is the record id (so a client that reconnects with
``Last-Event-ID`` resumes exactly after the last record it got), ``event: record`` and ``data``
the record as ``GET /api/v1/record`` presents it. Without ``Last-Event-ID`` (or ``last_id``) the
stream starts with the records stored from now on. The view polls the database every
``poll`` seconds (default 0.5) for rows with a larger id, sends a ``:`` comment line as a
heartbeat every 15 s of silence, and ends the response after ``timeout`` seconds (default 300):
a client reconnects (``retry:`` says after how many milliseconds), which frees the server thread
now and then and lets a reconnecting client pick up where it was.

Ids grow with insertion order on both backends; a PostgreSQL transaction that commits after a
later one may hold smaller ids, so the view re-reads a short window below its high-water mark
and skips ids it already sent. The high-water mark is the table's newest id, not the newest
*matching* id: a selective filter never makes each poll scan further back. The heartbeat is an
``id:`` line without data when that mark moved (a reconnecting client then skips the rows it
had no use for), a ``:`` comment otherwise.

A browser's ``EventSource`` cannot send an ``Authorization`` header: the view also accepts the
token in the ``c2c_collector_token`` cookie (URL-encoded), checked by the same authenticator
(hashed, compared in constant time), on ``/api/v1/stream/{scope}`` only, where ``scope`` is 32
random hexadecimal digits the web UI draws for each page and sets the cookie for
(``Path=.../api/v1/stream/{scope}``, ``SameSite=Strict``): cookies are not kept apart by port, and
another service on the same host would otherwise receive the reader token with any request for
``/api/v1/stream`` (issue #18). Headers win over the cookie; the cookie is never logged.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from c2cwsgiutils.collector.http.api import ApiError, _int_param, _params, endpoint, read_only
from c2cwsgiutils.collector.http.app_state import CollectorState
from c2cwsgiutils.collector.http.record_shape import present_ours
from c2cwsgiutils.collector.query.filters import build_filter
from c2cwsgiutils.collector.storage.backends import SUMMARY_COLUMNS, Storage
from c2cwsgiutils.collector.storage.schema import record_table

__all__ = ["SCOPED_ROUTE", "TOKEN_COOKIE", "accept_token_cookie", "includeme", "stream_records"]

HEARTBEAT_SECONDS = 15.0
MAX_TIMEOUT = 3600
BATCH = 500
REREAD_WINDOW = 200  # ids below the high-water mark re-read for late PostgreSQL commits
RETRY_MS = 1000
TOKEN_COOKIE = "c2c_collector_token"  # noqa: S105 - the name of the cookie, not a secret
SCOPED_ROUTE = "c2c_collector_stream_scoped"
_SCOPE = re.compile("[0-9a-f]{32}")


def _max_id(storage: Storage) -> int:
    with storage.reader.connect() as connection:
        found = connection.execute(sa.select(sa.func.max(record_table.c.id))).scalar_one_or_none()
        return int(found or 0)


def _after(
    storage: Storage, where: ColumnElement[bool], last_id: int, high: int, limit: int
) -> list[dict[str, Any]]:
    statement = (
        sa.select(*SUMMARY_COLUMNS)
        .where(where, record_table.c.id > last_id, record_table.c.id <= high)
        .order_by(record_table.c.id)
        .limit(limit)
    )
    with storage.reader.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(statement)]


def _event(row: dict[str, Any]) -> bytes:
    data = json.dumps(present_ours(row), ensure_ascii=False, default=str)
    return f"id: {row['id']}\nevent: record\ndata: {data}\n\n".encode()


def _events(
    storage: Storage, where: ColumnElement[bool], last_id: int, timeout: float, poll: float
) -> Iterator[bytes]:
    # The id without data sets the client's last event id: a reconnection before the first record
    # resumes from here rather than from "now" again.
    yield f"retry: {RETRY_MS}\nid: {last_id}\n\n".encode()
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    floor = last_id  # never send what the client already had
    told = last_id  # the last id the client was given
    sent: set[int] = set()
    while True:
        high = _max_id(storage)
        rows = _after(storage, where, max(floor, last_id - REREAD_WINDOW), high, BATCH + REREAD_WINDOW)
        fresh = [row for row in rows if row["id"] not in sent]
        for row in fresh:
            sent.add(row["id"])
            yield _event(row)
        if fresh:
            told = max(told, *(row["id"] for row in fresh))
            quiet_since = time.monotonic()
        if len(rows) >= BATCH + REREAD_WINDOW:
            last_id = max(last_id, rows[-1]["id"])  # a backlog: read on at once
            sent = {i for i in sent if i > last_id - REREAD_WINDOW}
            continue
        last_id = max(last_id, high)
        sent = {i for i in sent if i > last_id - REREAD_WINDOW}
        now = time.monotonic()
        if now >= deadline:
            return
        if now - quiet_since >= HEARTBEAT_SECONDS:
            quiet_since = now
            if last_id > told:
                told = last_id
                yield f"id: {last_id}\n\n".encode()
            else:
                yield b": heartbeat\n\n"
        time.sleep(min(poll, max(0.0, deadline - now)))


def accept_token_cookie(view: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Let ``view`` authenticate with the :data:`TOKEN_COOKIE` cookie when no header credential came,
    on the scoped route (``/api/v1/stream/{scope}``) only.

    The cookie's token stands for an ``Authorization: Bearer`` header of this request only.
    """

    def with_cookie(request: Any) -> Any:
        headers = request.headers
        scope = request.matchdict.get("scope", "") if request.matchdict else ""
        if _SCOPE.fullmatch(scope) and not headers.get("Authorization") and not headers.get("X-API-Key"):
            token = urllib.parse.unquote(request.cookies.get(TOKEN_COOKIE, ""))
            if token:
                headers["Authorization"] = f"Bearer {token}"
        return view(request)

    with_cookie.__doc__ = view.__doc__
    return with_cookie


@endpoint("reader")
def stream_records(request: Any, state: CollectorState) -> Any:
    """GET /api/v1/stream."""
    from pyramid.response import Response

    params = _params(request)
    where = build_filter(params, state.storage.dialect)
    timeout = _int_param(params, "timeout", 300)
    if timeout > MAX_TIMEOUT:
        raise ApiError(400, "invalid_parameter", f"timeout must be <= {MAX_TIMEOUT}", parameter="timeout")
    poll_ms = _int_param(params, "poll_ms", 500)
    if not 50 <= poll_ms <= 60_000:
        raise ApiError(400, "invalid_parameter", "poll_ms must be within 50..60000", parameter="poll_ms")
    raw_last = request.headers.get("Last-Event-ID") or params.get("last_id") or ""
    if raw_last:
        if not (raw_last.isascii() and raw_last.isdigit()) or len(raw_last) > 18:
            raise ApiError(400, "invalid_parameter", "Last-Event-ID must be a record id", parameter="last_id")
        last_id = int(raw_last)
    else:
        last_id = _max_id(state.storage)
    response = Response(status=200, content_type="text/event-stream", charset="utf-8")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    if request.method == "HEAD":
        return response
    response.app_iter = _events(state.storage, where, last_id, float(timeout), poll_ms / 1000)
    return response


def includeme(config: Any) -> None:
    """Add the ``/api/v1/stream`` routes (the scoped one takes the cookie)."""
    config.add_route("c2c_collector_stream", "/api/v1/stream")
    config.add_view(read_only(stream_records), route_name="c2c_collector_stream")
    config.add_route(SCOPED_ROUTE, "/api/v1/stream/{scope}")
    config.add_view(read_only(accept_token_cookie(stream_records)), route_name=SCOPED_ROUTE)
