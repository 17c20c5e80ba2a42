"""``OtlpHandler``: the ``CollectorHandler``'s queue, spool and guarantees, exporting by OTLP/HTTP.

For a team with Jaeger, Tempo, SigNoz or an OpenTelemetry Collector: records and span events (with
their request id, trace and span ids) go to any OTLP/HTTP endpoint, without our collector::

    "handlers": {
        "otlp": {
            "class": "c2cwsgiutils.logging.otlp_handler.OtlpHandler",
            "endpoint": "http://otel-collector:4318",  # or OTEL_EXPORTER_OTLP_ENDPOINT
        }
    }

``emit`` is the ``CollectorHandler``'s (it never blocks nor raises); the sender thread converts
each batch (:mod:`c2cwsgiutils.logging.otlp_export`) and POSTs the log records to
``{endpoint}/v1/logs`` and the spans to ``{endpoint}/v1/traces``, in protobuf (the OTLP default,
with ``opentelemetry-proto``) or JSON (``protocol="http/json"``), gzip. While the endpoint does not
answer, batches go to the disk spool and are resent, as with the collector; a 429/503's
``Retry-After`` is honoured. Delivery is at least once: a receiver without idempotency may store a
resent batch twice (the collector's own OTLP intake does not).
"""

from __future__ import annotations

import gzip
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from c2cwsgiutils import config
from c2cwsgiutils.logging import otlp_export
from c2cwsgiutils.logging._collector_sender import Sender
from c2cwsgiutils.logging.collector_handler import CollectorHandler
from c2cwsgiutils.logging.collector_transport import Outcome, Result, Transport

__all__ = ["OtlpHandler", "OtlpTransport"]

ENDPOINT = config.declare(
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "",
    "",
    config.as_str,
    "Base URL of the OTLP/HTTP endpoint the `OtlpHandler` exports to (`{url}/v1/logs`, "
    "`{url}/v1/traces`), as for the OpenTelemetry SDKs. Empty: the handler drops every record.",
    feature="otlp",
)
HEADERS = config.declare(
    "OTEL_EXPORTER_OTLP_HEADERS",
    "",
    "",
    config.as_str,
    "Headers of the `OtlpHandler`'s requests, `name=value` pairs separated by commas, values "
    "URL-encoded (`Authorization=Bearer%20xyz`), as for the OpenTelemetry SDKs.",
    secret=True,
    feature="otlp",
)
PROTOCOL = config.declare(
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "",
    "http/protobuf",
    config.choice("http/protobuf", "http/json"),
    "Encoding of the `OtlpHandler`'s requests: `http/protobuf` (needs `opentelemetry-proto`, in "
    "the `otlp` extra) or `http/json`.",
    feature="otlp",
)


def parse_headers(text: str) -> dict[str, str]:
    """``name=value,name2=value2`` (values URL-encoded) as a dict; raises ConfigError."""
    headers = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise config.ConfigError(
                f"{HEADERS.env} must be name=value pairs separated by commas (got {pair!r})"
            )
        headers[name.strip()] = urllib.parse.unquote(value.strip())
    return headers


class OtlpTransport(Transport):
    """POSTs a batch of NDJSON lines as OTLP export requests (logs, then traces) to one endpoint."""

    def __init__(self, url: str, token: str = "", timeout: float = 10.0, compresslevel: int = 1) -> None:
        super().__init__(url, "", timeout, compresslevel)
        self.base = self.path[: -len("/api/v1/record")]
        self.content_type = otlp_export.PROTOBUF
        self._headers = {
            "Content-Encoding": "gzip",
            "Connection": "keep-alive",
            **parse_headers(token),
        }

    def post(
        self,
        lines: Sequence[str],
        timeout: float | None = None,
        while_waiting: Callable[[], None] | None = None,
    ) -> Result:
        """Send the log records, then the spans, of ``lines``; never raises."""
        logs, traces, invalid = otlp_export.requests_of(lines)
        result = Result(Outcome.SENT, status=200)
        for signal, document in (("logs", logs), ("traces", traces)):
            if document is None:
                continue
            try:
                body = otlp_export.encode(document, signal, self.content_type)
            except Exception as exc:  # a value protobuf refuses
                return Result(Outcome.INVALID, status=400, message=f"cannot encode the batch: {exc}")
            self.path = f"{self.base}/v1/{signal}"
            self._headers["Content-Type"] = self.content_type
            result = self.post_body(gzip.compress(body, self.compresslevel), timeout, while_waiting)
            if result.outcome is not Outcome.SENT:
                return result
        result.stored = len(lines) - invalid
        result.errors = [{"line": 0, "error": "not a JSON object"}] * invalid
        return result


class OtlpSender(Sender):
    """The collector handler's sender thread, exporting through :class:`OtlpTransport`."""

    label = "OTLP handler"
    credentials_hint = "OTEL_EXPORTER_OTLP_HEADERS"
    transport_factory = OtlpTransport

    def after_fork(self) -> None:
        """A fresh connection in a forked child, with the same encoding."""
        content_type = getattr(self.transport, "content_type", otlp_export.PROTOBUF)
        super().after_fork()
        assert isinstance(self.transport, OtlpTransport)
        self.transport.content_type = content_type


class OtlpHandler(CollectorHandler):
    """A logging handler exporting records and span events to an OTLP/HTTP endpoint.

    ``endpoint`` (default ``OTEL_EXPORTER_OTLP_ENDPOINT``), ``headers`` (a dict, or the
    ``OTEL_EXPORTER_OTLP_HEADERS`` text), ``protocol`` (``http/protobuf`` or ``http/json``, default
    ``OTEL_EXPORTER_OTLP_PROTOCOL``); every other argument is the
    :class:`~c2cwsgiutils.logging.collector_handler.CollectorHandler`'s (service, spool, batches,
    time-outs).
    """

    sender_class = OtlpSender

    def __init__(
        self,
        endpoint: str | None = None,
        headers: dict[str, str] | str | None = None,
        service: str | None = None,
        *,
        protocol: str | None = None,
        **kwargs: Any,
    ) -> None:
        url = ENDPOINT.get(None) if endpoint is None else endpoint
        if headers is None:
            headers = HEADERS.get(None)
        header_text = (
            headers
            if isinstance(headers, str)
            else ",".join(f"{k}={urllib.parse.quote(str(v))}" for k, v in headers.items())
        )
        parse_headers(header_text)  # a bad value fails here, naming the variable
        chosen = PROTOCOL.get(None) if protocol is None else PROTOCOL.convert(protocol)
        if chosen == "http/protobuf":
            import importlib.util

            if importlib.util.find_spec("opentelemetry.proto") is None:
                raise config.ConfigError(
                    "OtlpHandler with the http/protobuf protocol needs opentelemetry-proto: "
                    "pip install 'c2cwsgiutils[otlp]', or set OTEL_EXPORTER_OTLP_PROTOCOL=http/json"
                )
        super().__init__(url, header_text, service, **kwargs)
        if self.sender is not None:
            transport = self.sender.transport
            assert isinstance(transport, OtlpTransport)
            transport.content_type = otlp_export.PROTOBUF if chosen == "http/protobuf" else otlp_export.JSON
