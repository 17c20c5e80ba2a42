"""A second service in the demo's request path, instrumented with OpenTelemetry only.

It stands for the service another team wrote without c2cwsgiutils: the OpenTelemetry SDK, its
WSGI instrumentation and its OTLP/HTTP exporters, configured by the standard ``OTEL_*`` variables
(``OTEL_EXPORTER_OTLP_ENDPOINT``: the collector's main port; ``OTEL_SERVICE_NAME``,
``OTEL_EXPORTER_OTLP_HEADERS`` for a token). The demo's ``GET /api/items/{id}/price`` calls it with
``requests``: the demo's client span id is the parent sent in ``traceparent``, so this service's
spans and log records land in the collector (``POST /v1/traces``, ``/v1/logs``) under that client
span, in the same request view.

``python -m c2cwsgiutils_demo.prices --port 8092`` serves it (``make run`` does).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import signal
import socketserver
import warnings
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

LOG = logging.getLogger("prices")
_PATH = re.compile(r"/prices/(\d{1,9})\Z")

StartResponse = Callable[..., Any]


def _price(item_id: int) -> float:
    """A stable price for an item (cents from a hash: the service has no database)."""
    digest = hashlib.sha256(str(item_id).encode()).digest()
    return round(1 + int.from_bytes(digest[:2], "big") / 100, 2)


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """``GET /prices/{id}``: ``{"item": id, "price": ...}``; anything else a JSON 404."""
    from opentelemetry import trace

    match = _PATH.match(environ.get("PATH_INFO", ""))
    if environ.get("REQUEST_METHOD") != "GET" or match is None:
        body = json.dumps({"message": "not found: GET /prices/{id}"}).encode()
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [body]
    item_id = int(match.group(1))
    span = trace.get_current_span()
    span.update_name("GET /prices/{id}")
    span.set_attribute("http.route", "/prices/{id}")
    with trace.get_tracer("prices").start_as_current_span("compute price") as compute:
        price = _price(item_id)
        compute.set_attribute("item.id", item_id)
        LOG.info("price of item %d is %.2f", item_id, price)
    body = json.dumps({"item": item_id, "price": price}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def instrumented() -> Any:
    """The application wrapped by OpenTelemetry's WSGI middleware, with OTLP exporters set up."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": "demo-prices"})  # OTEL_SERVICE_NAME overrides it
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=200))
    trace.set_tracer_provider(tracer_provider)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(), schedule_delay_millis=200)
    )
    with warnings.catch_warnings():  # deprecated in favour of opentelemetry-instrumentation-logging
        warnings.simplefilter("ignore", DeprecationWarning)
        LOG.addHandler(LoggingHandler(logger_provider=logger_provider))
    LOG.setLevel(logging.INFO)
    return OpenTelemetryMiddleware(application)


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug(format, *args)


def main(argv: list[str] | None = None) -> None:
    """Serve the instrumented application until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8092)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    server = make_server(
        args.host, args.port, instrumented(), server_class=_Server, handler_class=_QuietHandler
    )
    LOG.info("Prices service on http://%s:%d/prices/{id}", args.host, args.port)

    def _terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # stop serving, then flush what was not exported yet

    signal.signal(signal.SIGTERM, _terminate)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        from opentelemetry import trace

        provider = trace.get_tracer_provider()
        shutdown = getattr(provider, "shutdown", None)
        if shutdown is not None:
            shutdown()  # flushes the spans not exported yet


if __name__ == "__main__":
    main()
