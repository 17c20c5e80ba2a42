"""Per-request cost of the toolkit, in-process through the WSGI callable (no network).

Variants, each in its own process, alternated round by round:

- ``plain pyramid``: a hello-world JSON route whose view logs one line (stdlib text handler);
- ``plain pyramid, no log``: the same without the log line (for reference);
- ``ours``: the same app with ``config.include("c2cwsgiutils.pyramid")`` (request tracking, context
  filter) and the log line through our :class:`JsonLogHandler`;
- ``original 6.1.10``: the same with the original c2cwsgiutils' include and its JSON handler
  (installed into bench/.peers/original on first run).

Every log line goes to a null stream. Prints the median µs/request, the overhead against plain
Pyramid and the ratios. Usage: ``python bench/bench_request.py [--rounds 9] [--requests 3000]``.

``--instructions`` counts instead, under callgrind, the CPU instructions per request of ``plain
pyramid``, ``ours`` (span events off: the ``c2cwsgiutils`` loggers at WARNING) and ``ours-spans``
(the same with the web span's event written by the JSON handler), without trace headers, with a
``traceparent`` and with a ``traceparent`` and a ``tracestate``: a count the load of the machine
does not move, to compare two versions.
"""

from __future__ import annotations

import argparse
import functools
import io
import logging
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness

ORIGINAL = ["c2cwsgiutils[standard]==6.1.10", "webtest"]
LOG = logging.getLogger("bench.view")


class NullStream:
    """A stream that drops everything (no system call: we measure the Python side)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _configure_logging(handler: logging.Handler) -> None:
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # Keep the toolkit's own start-up lines out of the way.
    logging.getLogger("c2cwsgiutils").setLevel(logging.WARNING)


def _build(variant: str) -> object:
    from pyramid.config import Configurator

    def hello(request: object) -> dict[str, str]:
        if variant != "plain-nolog":
            LOG.info("hello")
        return {"hello": "world"}

    if variant in ("plain", "plain-nolog"):
        handler: logging.Handler = logging.StreamHandler(NullStream())  # type: ignore[arg-type]
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5.5s [%(name)s] %(message)s"))
    elif variant in ("ours", "ours-spans"):
        from c2cwsgiutils.logging import JsonLogHandler

        handler = JsonLogHandler(NullStream())  # type: ignore[arg-type]
    else:
        from c2cwsgiutils.pyramid_logging import JsonLogHandler as OriginalHandler  # type: ignore[import-not-found]

        handler = OriginalHandler(NullStream())
    _configure_logging(handler)
    if variant == "ours-spans":
        # The request's web span event, through the same JSON handler.
        logging.getLogger("c2cwsgiutils.spans").setLevel(logging.INFO)

    config = Configurator(settings={})
    if variant in ("ours", "ours-spans", "original"):
        config.include("c2cwsgiutils.pyramid")
    config.add_route("hello", "/hello")
    config.add_view(hello, route_name="hello", renderer="json")
    return config.make_wsgi_app()


# Incoming trace headers of the --instructions cases, as WSGI environ keys.
TRACE_HEADERS: dict[str, dict[str, str]] = {
    "no trace headers": {},
    "traceparent": {"HTTP_TRACEPARENT": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    "traceparent + tracestate": {
        "HTTP_TRACEPARENT": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "HTTP_TRACESTATE": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
    },
}


def _requester(variant: str, extra: dict[str, str]) -> tuple[Callable[[], bytes], list[str]]:
    """A function sending one request to the variant's app, and the statuses it answered."""
    app = _build(variant)
    base = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/hello",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **extra,
    }
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
        statuses.append(status)

    def once() -> bytes:
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(b"")
        result = app(environ, start_response)  # type: ignore[operator]
        body = b"".join(result)
        close = getattr(result, "close", None)
        if close is not None:
            close()
        return body

    return once, statuses


def _worker(variant: str) -> None:
    once, statuses = _requester(variant, {})
    body = once()
    if body != b'{"hello": "world"}' or statuses[-1] != "200 OK":
        raise RuntimeError(f"{variant}: unexpected answer {statuses[-1]} {body!r}")

    def run(iterations: int) -> None:
        for _ in range(iterations):
            once()
        statuses.clear()

    _harness.serve(run)


def _callgrind_inner(variant: str, case: str, requests: int) -> None:
    once, statuses = _requester(variant, TRACE_HEADERS[case])
    for _ in range(200):  # caches, first log lines
        once()
    if statuses[-1] != "200 OK":
        raise RuntimeError(f"{variant}: unexpected answer {statuses[-1]}")
    # Only what runs inside this C-level reduce() is counted (see _harness.reduce_instructions).
    functools.reduce(lambda _acc, _item: once(), range(requests), None)


def instruction_counts(requests: int) -> None:
    """CPU instructions per request of plain Pyramid and ours, with and without trace headers."""
    print(f"# CPU instructions per request (callgrind, {requests} requests, warm)")
    print(f"{'variant':<16}{'headers':<28}{'instructions':>13}{'vs plain':>10}")
    for case in TRACE_HEADERS:
        counts = {}
        for variant in ("plain", "ours", "ours-spans"):
            argv = [sys.executable, __file__, "--callgrind-inner", variant, case, str(requests)]
            counts[variant] = _harness.reduce_instructions(argv) / requests
            added = counts[variant] - counts["plain"]
            print(f"{variant:<16}{case:<28}{counts[variant]:>13.0f}{added:>+10.0f}")


def main() -> None:
    if sys.argv[1:2] == ["--callgrind-inner"]:
        _callgrind_inner(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--no-original", action="store_true", help="skip the original 6.1.10")
    parser.add_argument("--instructions", action="store_true", help="count CPU instructions (callgrind)")
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker)
        return
    if args.instructions:
        instruction_counts(min(args.requests, 500))
        return

    medians = _harness.compare_variants(
        Path(__file__).resolve(),
        [("plain pyramid", "plain"), ("plain pyramid, no log", "plain-nolog"), ("ours", "ours")],
        None if args.no_original else ORIGINAL,
        "# per request, in-process WSGI call, hello-world JSON route logging one line",
        args.requests,
        args.rounds,
        "req",
    )
    plain = medians["plain pyramid"]
    for name, value in medians.items():
        if name != "plain pyramid":
            print(f"{name:<28} {value - plain:+9.2f} µs vs plain pyramid   ratio {value / plain:.2f}x")
    if "original 6.1.10" in medians:
        print(f"ours vs original: {medians['original 6.1.10'] / medians['ours']:.2f}x faster")


if __name__ == "__main__":
    main()
