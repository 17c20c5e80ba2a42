"""What the span benchmarks (``bench_client_spans``, ``bench_sql_spans``) share.

Both count the CPU instructions a span adds per call under callgrind, for this toolkit (span events
to a queueing handler) and for OpenTelemetry (spans to a queueing exporter), and print the same
table: each variant's instructions, what it adds over its own ``off`` variant, and the ratio.
"""

from __future__ import annotations

import logging
import textwrap

OTEL_QUEUE_PROVIDER = textwrap.dedent(
    """
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class QueueExporter(SpanExporter):
        def __init__(self):
            self.spans = []
        def export(self, spans):
            self.spans.extend(spans)
            if len(self.spans) >= 1000:
                self.spans.clear()
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(QueueExporter()))
    tracer = provider.get_tracer("bench")
    """
)
"""Python text that defines ``provider`` and ``tracer``: an SDK tracer provider whose simple span
processor hands each span to an exporter that queues it (emptied every 1000)."""


class QueueHandler(logging.Handler):
    """Keeps the records, emptied every 1000 (a stand-in for the CollectorHandler's queue)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if len(self.records) >= 1000:
            self.records.clear()

    def handle(self, record: logging.LogRecord) -> bool:  # no lock, no filter: only the queue
        self.emit(record)
        return True


def queue_span_events() -> None:
    """Send the span events of ``c2cwsgiutils.spans`` to a :class:`QueueHandler` only."""
    logger = logging.getLogger("c2cwsgiutils.spans")
    logger.addHandler(QueueHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def print_added(results: dict[str, float | None], spans_variant: str, what: str) -> None:
    """The table of ``results`` (instructions per call by variant; ``None``: not measured).

    Every variant of this toolkit is compared to ``off``, OpenTelemetry's (``otel off``, ``otel``)
    to ``otel off``; the ratio compares what ``spans_variant`` and ``otel`` add, ``what`` names it.
    """
    width = max(len(variant) for variant in results) + 4
    print(f"{'variant':<{width}}{'instructions':>14}{'added':>10}")
    for variant, value in results.items():
        base = results["otel off"] if variant.startswith("otel") else results["off"]
        if value is None or base is None:
            print(f"{variant:<{width}}{'n/a':>14}")
            continue
        print(f"{variant:<{width}}{value:>14.0f}{value - base:>+10.0f}")
    spans, otel = results[spans_variant], results["otel"]
    if spans is not None and otel is not None and results["off"] and results["otel off"]:
        ratio = (spans - results["off"]) / (otel - results["otel off"])
        print(f"{what}: this toolkit / OpenTelemetry = {ratio:.2f}")
