"""Real request traffic for the request view and requests page tests.

A Pyramid application with the toolkit's request spans and SQL spans on a real PostgreSQL serves a
few requests; the span events and log lines they emit are captured, in the wire format, and
posted to a real collector as NDJSON.
"""

from __future__ import annotations

import http.client
import json
import logging
import uuid
from typing import Any

import sqlalchemy
from pyramid.config import Configurator
from pyramid.response import Response
from sqlalchemy import text
from webtest import TestApp

from c2cwsgiutils import spans, sql
from c2cwsgiutils.logging.filter import ContextFilter
from c2cwsgiutils.logging.record import record_to_dict

REPEATED = 20
SLOW_SECONDS = 0.12


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.addFilter(ContextFilter())
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        wire = record_to_dict(record, "shop")
        wire["uuid"] = uuid.uuid4().hex
        self.records.append(wire)


def _item(request: Any) -> Response:
    engine = request.registry.settings["engine"]
    logging.getLogger("shop.views").info("showing item %s", request.matchdict["id"])
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_sleep(:s)"), {"s": SLOW_SECONDS})
        for number in range(REPEATED):
            conn.execute(text("SELECT :n AS price WHERE 1 = 1"), {"n": number})
        conn.execute(text("SELECT count(*) FROM pg_class"))
    return Response("ok")


def _fast(request: Any) -> Response:
    engine = request.registry.settings["engine"]
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return Response("fast")


def _fail(request: Any) -> Response:
    raise ValueError("broken")


def make_traffic(pg_url: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """(wire records, request ids by name: item, fast, fast2, fail) of real requests."""
    engine = sqlalchemy.create_engine(pg_url, pool_size=1)
    sql.instrument(engine)
    logger = logging.getLogger()
    spans_logger = logging.getLogger("c2cwsgiutils.spans")
    capture = Capture()
    level, spans_level = logger.level, spans_logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.INFO)
    spans_logger.setLevel(logging.INFO)
    spans.configure(events=True)
    ids = {name: f"{name}-{uuid.uuid4().hex[:12]}" for name in ("item", "fast", "fast2", "fail")}
    try:
        with Configurator(settings={"engine": engine}) as config:
            config.include("c2cwsgiutils.request_tracking")
            config.include("c2cwsgiutils.spans")
            config.add_route("item", "/items/{id}")
            config.add_view(_item, route_name="item")
            config.add_route("fast", "/fast")
            config.add_view(_fast, route_name="fast")
            config.add_route("fail", "/fail")
            config.add_view(_fail, route_name="fail")
            config.add_view(lambda exc, request: Response("oops", status=500), context=ValueError)
            app = TestApp(config.make_wsgi_app())
        with engine.connect() as conn:  # the engine's first connection, outside any request
            conn.execute(text("SELECT 1"))
        app.get("/items/7", headers={"X-Request-ID": ids["item"]})
        app.get("/fast", headers={"X-Request-ID": ids["fast"]})
        app.get("/fast", headers={"X-Request-ID": ids["fast2"]})
        app.get("/fail", headers={"X-Request-ID": ids["fail"]}, status=500)
    finally:
        logger.removeHandler(capture)
        logger.setLevel(level)
        spans_logger.setLevel(spans_level)
        engine.dispose()
    return capture.records, ids


def post(port: int, records: list[dict[str, Any]]) -> None:
    """Post ``records`` as one NDJSON batch; asserts they are stored."""
    body = b"".join(json.dumps(record, default=repr).encode() + b"\n" for record in records)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/api/v1/record", body, {"Content-Type": "application/x-ndjson"})
        response = connection.getresponse()
        answer = response.read()
        assert response.status in (200, 201), answer
    finally:
        connection.close()


def get(port: int, path: str) -> tuple[int, Any]:
    """(status, decoded JSON) of a GET."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()
