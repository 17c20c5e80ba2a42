"""Cost of an HTTP client span per call, against OpenTelemetry's requests instrumentation.

Run: ``.venv/bin/python bench/bench_client_spans.py`` (``BENCH_CALLS`` the calls per run). Needs
valgrind: each variant runs a loop of ``session.get()`` to a keep-alive HTTP server in another
process, inside a request span, under ``valgrind --tool=callgrind``; the CPU instructions of the
loop alone (start-up and warm-up not counted) are divided by the number of calls. Unlike times,
these counts hardly depend on what else the machine is doing.

Variants:

- ``off``: plain requests, nothing patched;
- ``propagation, spans off``: ``c2cwsgiutils.outgoing`` installed with ``C2C_SPANS_EVENTS=false``
  (the headers only, as before client spans existed);
- ``spans``: client spans on, each span event to a handler that queues the records and is emptied
  every 1000 (as the CollectorHandler's queue is by its sender);
- ``otel off`` / ``otel``: in its own virtualenv (``bench/.peers/otel-requests``), the same loop
  without and with ``opentelemetry-instrumentation-requests`` on an SDK tracer provider whose
  simple span processor hands each span to an exporter that queues it (emptied every 1000).

Each toolkit's figure is "added": its instructions per call minus those of its own ``off``.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _harness
import _spans_cost

CALLS = int(os.environ.get("BENCH_CALLS", "1000"))
OTEL_REQUIREMENTS = ["requests", "opentelemetry-sdk", "opentelemetry-instrumentation-requests"]

SERVER = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)


def _ours_inner(variant: str, url: str, calls: int) -> None:
    import requests

    from c2cwsgiutils import context, outgoing, spans

    _spans_cost.queue_span_events()
    spans.configure(events=variant == "spans")
    if variant != "off":
        outgoing.install({})
    with context.bind(request_id="bench"), spans.span("request"), requests.Session() as session:
        for _ in range(50):  # connection, caches
            session.get(url).close()
        # Only what runs inside this C-level reduce() is counted (--toggle-collect).
        functools.reduce(lambda _acc, _item: session.get(url).close(), range(calls), None)


OTEL_INNER = _spans_cost.OTEL_QUEUE_PROVIDER + textwrap.dedent(
    """
    import functools, sys
    import requests
    from opentelemetry import trace

    url, variant, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    trace.set_tracer_provider(provider)
    if variant == "otel":
        from opentelemetry.instrumentation.requests import RequestsInstrumentor
        RequestsInstrumentor().instrument(tracer_provider=provider)
    with tracer.start_as_current_span("request"), requests.Session() as session:
        for _ in range(50):
            session.get(url).close()
        functools.reduce(lambda _acc, _item: session.get(url).close(), range(calls), None)
    """
)


def main(argv: list[str]) -> None:
    if argv[:1] == ["--inner"]:
        _ours_inner(argv[1], argv[2], int(argv[3]))
        return
    from c2cwsgiutils import spans

    server = subprocess.Popen([sys.executable, "-I", "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}/items?page=1"
        results: dict[str, float | None] = {}
        for variant in ("off", "propagation, spans off", "spans"):
            argv_ = [sys.executable, __file__, "--inner", variant, url, str(CALLS)]
            results[variant] = _harness.reduce_instructions(argv_) / CALLS
        try:
            python = _harness.peer_python("otel-requests", OTEL_REQUIREMENTS)
            for variant in ("otel off", "otel"):
                argv_ = [
                    str(python),
                    "-I",
                    "-c",
                    OTEL_INNER,
                    url,
                    variant.replace("otel off", "off"),
                    str(CALLS),
                ]
                results[variant] = _harness.reduce_instructions(argv_) / CALLS
        except Exception as exc:  # the peer could not be installed or run
            print(f"OpenTelemetry peer not available: {exc}")
            results["otel off"] = results["otel"] = None
    finally:
        server.terminate()
        server.wait(10)
    print(f"CPU instructions per requests call (callgrind, {CALLS} calls in a request span)")
    print(f"span hot path compiled: {spans.compiled}")
    _spans_cost.print_added(results, "spans", "HTTP client span, added per call")


if __name__ == "__main__":
    main(sys.argv[1:])
