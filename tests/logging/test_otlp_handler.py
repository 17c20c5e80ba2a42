"""OtlpHandler: records and span events exported by OTLP/HTTP, decoded with opentelemetry-proto,
and shipped into the collector's own OTLP intake."""

from __future__ import annotations

import gzip
import http.server
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from c2cwsgiutils import context, spans
from c2cwsgiutils.config import ConfigError
from c2cwsgiutils.logging.otlp_handler import OtlpHandler, parse_headers
from tests.collector.cli_process import TOKEN, start_collector
from tests.helpers import stop_process


class Receiver:
    """An OTLP/HTTP endpoint on loopback that keeps what it receives (and can refuse at first)."""

    def __init__(self, refuse: int = 0) -> None:
        self.received: list[tuple[str, str, dict[str, str], bytes]] = []
        self.refuse = refuse
        self.condition = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with receiver.condition:
                    if receiver.refuse > 0:
                        receiver.refuse -= 1
                        self.send_response(503)
                        self.send_header("Retry-After", "1")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    receiver.received.append(
                        (self.path, self.headers["Content-Type"], dict(self.headers.items()), body)
                    )
                    receiver.condition.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", self.headers["Content-Type"])
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, path: str, count: int = 1, timeout: float = 20) -> list[bytes]:
        deadline = time.monotonic() + timeout
        with self.condition:
            while True:
                bodies = [body for p, _, _, body in self.received if p == path]
                if len(bodies) >= count or time.monotonic() > deadline:
                    return bodies
                self.condition.wait(0.1)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture(autouse=True)
def _loggers_restored() -> Iterator[None]:
    """Every logger this module configures gets its handlers, level and propagation back."""
    names = ("c2cwsgiutils.spans", "tests.otlp.export", "tests.otlp.json", "tests.otlp.collector")
    saved = {
        name: (
            list(logging.getLogger(name).handlers),
            logging.getLogger(name).level,
            logging.getLogger(name).propagate,
        )
        for name in names
    }
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = handlers, propagate
        logger.setLevel(level)


def _logger(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


def _attributes(items: Any) -> dict[str, Any]:
    def value(any_value: Any) -> Any:
        kind = any_value.WhichOneof("value")
        if kind == "kvlist_value":
            return {kv.key: value(kv.value) for kv in any_value.kvlist_value.values}
        if kind == "array_value":
            return [value(v) for v in any_value.array_value.values]
        return getattr(any_value, kind) if kind else None

    return {item.key: value(item.value) for item in items}


def test_records_and_spans_are_exported_as_otlp_protobuf(receiver: Receiver, tmp_path: Path) -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    handler = OtlpHandler(
        receiver.url, {"Authorization": "Bearer abc def"}, "shop", spool_dir=str(tmp_path / "spool")
    )
    logger = _logger(handler, "tests.otlp.export")
    _logger(handler, "c2cwsgiutils.spans")
    spans.configure(events=True)
    try:
        with context.bind(request_id="otlp-out-1"), spans.span("checkout") as span:
            span.set("cart", {"items": 3})
            logger.warning("paid %s", "7 EUR", extra={"order": {"id": 7}})
            ids = (context.current().trace_id, context.current().span_id)
        handler.flush()
        logs = ExportLogsServiceRequest.FromString(receiver.wait("/v1/logs")[0])
        traces = ExportTraceServiceRequest.FromString(receiver.wait("/v1/traces")[0])
    finally:
        handler.close()
        spans.configure()
    (_, content_type, headers, _) = receiver.received[0]
    assert (content_type, headers["Authorization"]) == ("application/x-protobuf", "Bearer abc def")
    (resource_logs,) = logs.resource_logs
    assert _attributes(resource_logs.resource.attributes)["service.name"] == "shop"
    (scope_logs,) = resource_logs.scope_logs
    assert scope_logs.scope.name == "tests.otlp.export"
    (log,) = scope_logs.log_records
    assert (log.body.string_value, log.severity_number, log.severity_text) == ("paid 7 EUR", 13, "WARNING")
    assert (log.trace_id.hex(), log.span_id.hex()) == ids
    attributes = _attributes(log.attributes)
    assert attributes["request_id"] == "otlp-out-1"
    assert attributes["order"] == {"id": 7}
    assert attributes["code.line.number"] > 0
    assert abs(log.time_unix_nano / 1e9 - time.time()) < 60
    (exported,) = traces.resource_spans[0].scope_spans[0].spans
    assert exported.name == "checkout"
    assert (exported.trace_id.hex(), exported.span_id.hex()) == ids
    assert exported.end_time_unix_nano > exported.start_time_unix_nano
    assert _attributes(exported.attributes)["cart"] == {"items": 3}
    assert exported.status.code == 1


def test_http_json_and_a_503_with_retry_after_deliver_once(tmp_path: Path) -> None:
    receiver = Receiver(refuse=1)
    handler = OtlpHandler(receiver.url, "", "shop", protocol="http/json", spool_dir=str(tmp_path / "spool"))
    logger = _logger(handler, "tests.otlp.json")
    try:
        logger.info("first")
        bodies = receiver.wait("/v1/logs", timeout=30)
        handler.flush()
        stats = handler.stats()
    finally:
        handler.close()
        receiver.close()
    assert len(bodies) == 1
    (document,) = [json.loads(body) for body in bodies]
    log = document["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    assert (log["body"], log["severityNumber"]) == ({"stringValue": "first"}, 9)
    assert receiver.received[0][1] == "application/json"
    assert stats["failures"] >= 1


def test_bad_headers_name_the_variable() -> None:
    assert parse_headers("Authorization=Bearer%20x, X-Scope=a") == {
        "Authorization": "Bearer x",
        "X-Scope": "a",
    }
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_HEADERS"):
        OtlpHandler("http://127.0.0.1:9", "no-equals-sign")


def test_records_exported_to_the_collectors_own_otlp_intake(tmp_path: Path) -> None:
    collector, process = start_collector(tmp_path)
    handler = OtlpHandler(
        collector.url, {"Authorization": f"Bearer {TOKEN}"}, "shop", spool_dir=str(tmp_path / "spool")
    )
    logger = _logger(handler, "tests.otlp.collector")
    try:
        with context.bind(request_id="otlp-into-collector"):
            logger.error("it broke", extra={"n": 7})
        handler.flush()
        deadline = time.monotonic() + 20
        while True:
            status, view = collector.call("GET", "/api/v1/request/otlp-into-collector")
            if view.get("count") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        handler.close()
        stop_process(process)
    assert status == 200
    (record,) = view["records"]
    assert (record["message"], record["level"], record["service"]) == ("it broke", 40, "shop")
    assert record["data"]["n"] == 7
