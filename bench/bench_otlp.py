"""Decoding cost per record of the OTLP intake against the NDJSON path, in one run.

The same 1,000 log records (message, level, logger, service, host, trace and span ids, two
attributes) as an OTLP ``ExportLogsServiceRequest`` in protobuf and in OTLP/JSON, and as the NDJSON
batch the ``CollectorHandler`` sends; each is turned into storage rows as the intake does
(``otlp.rows``, and ``ingest.parse_ndjson``), without storing; the OTLP bodies also by the reference
path (``otlp.reference_rows``: the record of the wire schema, then ``ingest.record_to_row``).
1,000 spans are measured the same way. Rounds alternate; medians in µs per record, with the
machine's speed bracketed (bench/_harness.py) and the ratio to NDJSON.

    python bench/bench_otlp.py [--records 1000] [--rounds 9]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import at_full_speed, bracketed

from c2cwsgiutils.collector.intake import ingest, otlp


def _bodies(count: int) -> dict[str, bytes]:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    now = time.time_ns()
    logs = ExportLogsServiceRequest()
    resource_logs = logs.resource_logs.add()
    resource_logs.resource.attributes.extend(
        [
            KeyValue(key="service.name", value=AnyValue(string_value="shop")),
            KeyValue(key="host.name", value=AnyValue(string_value="web-1")),
        ]
    )
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "shop.orders"
    traces = ExportTraceServiceRequest()
    resource_spans = traces.resource_spans.add()
    resource_spans.resource.attributes.extend(resource_logs.resource.attributes)
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "shop.web"
    lines = []
    for index in range(count):
        trace_id, span_id = os.urandom(16), os.urandom(8)
        log = scope_logs.log_records.add()
        log.time_unix_nano = now + index
        log.severity_number = 9
        log.severity_text = "INFO"
        log.body.string_value = f"order {index} accepted"
        log.trace_id, log.span_id = trace_id, span_id
        log.attributes.extend(
            [
                KeyValue(key="order.id", value=AnyValue(int_value=index)),
                KeyValue(key="customer", value=AnyValue(string_value="c-42")),
            ]
        )
        span = scope_spans.spans.add()
        span.trace_id, span.span_id = trace_id, span_id
        span.name = "GET /orders/{id}"
        span.kind = 2
        span.start_time_unix_nano, span.end_time_unix_nano = now + index, now + index + 1_500_000
        span.attributes.extend(
            [
                KeyValue(key="http.route", value=AnyValue(string_value="/orders/{id}")),
                KeyValue(key="http.response.status_code", value=AnyValue(int_value=200)),
            ]
        )
        lines.append(
            json.dumps(
                {
                    "uuid": os.urandom(16).hex(),
                    "created": (now + index) / 1e9,
                    "levelno": 20,
                    "logger_name": "shop.orders",
                    "msg": f"order {index} accepted",
                    "service": "shop",
                    "host": "web-1",
                    "trace_id": trace_id.hex(),
                    "span_id": span_id.hex(),
                    "order": {"id": index},
                    "customer": "c-42",
                }
            )
        )
    from google.protobuf import json_format

    def otlp_json(message: object) -> bytes:
        document = json_format.MessageToDict(message)  # type: ignore[arg-type]
        text = json.dumps(document)
        return _hex_ids(text).encode()

    bodies = {
        "logs-protobuf": logs.SerializeToString(),
        "logs-json": otlp_json(logs),
        "spans-protobuf": traces.SerializeToString(),
        "spans-json": otlp_json(traces),
    }
    # Each OTLP body twice: the intake's rows (otlp.rows), and the reference path (the record of the
    # wire schema, then ingest.record_to_row), which the intake took up to 2026-12-07.
    return {
        "ndjson": "\n".join(lines).encode(),
        **bodies,
        **{f"{name} (reference)": body for name, body in bodies.items()},
    }


def _hex_ids(text: str) -> str:
    """protobuf's JSON writes bytes in base64; OTLP/JSON wants the ids in hex."""
    import base64
    import re

    def convert(match: re.Match[str]) -> str:
        return f'"{match.group(1)}": "{base64.b64decode(match.group(2)).hex()}"'

    return re.sub(r'"(traceId|spanId|parentSpanId)": "([^"]*)"', convert, text)


def _runner(name: str, body: bytes) -> Callable[[], int]:
    if name == "ndjson":
        return lambda: len(ingest.parse_ndjson(body, 1_000_000).rows)
    encoding, _, path = name.partition(" ")
    signal, protobuf = ("logs" if encoding.startswith("logs") else "traces"), "protobuf" in name
    if path == "(reference)":
        return lambda: len(otlp.reference_rows(signal, protobuf, body))
    return lambda: len(otlp.rows(signal, protobuf, body, 1_000_000).rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    bodies = _bodies(args.records)
    runners = {name: _runner(name, body) for name, body in bodies.items()}
    for run in runners.values():
        assert run() == args.records
    samples: dict[str, list[float]] = {name: [] for name in runners}
    speeds: dict[str, list[float]] = {name: [] for name in runners}
    for round_number in range(args.rounds):
        order = list(runners.items()) if round_number % 2 == 0 else list(reversed(runners.items()))
        for name, run in order:

            def measure(run: Callable[[], int] = run) -> float:
                start = time.process_time()
                run()
                return (time.process_time() - start) / args.records * 1e6

            value, speed = bracketed(measure)
            samples[name].append(value)
            speeds[name].append(speed)
    fastest = min(min(values) for values in speeds.values())
    base = statistics.median(samples["ndjson"])
    print(f"{args.records} records per body, {args.rounds} rounds, CPU µs per record (decode + row)")
    for name, values in samples.items():
        median = statistics.median(values)
        full = at_full_speed(values, speeds[name], fastest)
        size = len(bodies[name]) / args.records
        print(
            f"{name:<28} {median:>7.2f} µs  x{median / base:.2f} of NDJSON   "
            f"(at full speed {full:.2f} µs; {size:.0f} bytes per record)"
        )


if __name__ == "__main__":
    main()
