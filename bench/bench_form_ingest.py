"""CPU cost of one single-record ``POST /api/v1/record`` (an HTTPHandler form) in the collector.

    .venv/bin/python bench/bench_form_ingest.py [--requests 2000] [--stored 2000]

The server's own work per request of ``bench_collector.py``'s single-record senders, without HTTP
and without the machine's noise: the collector application of ``create_app`` (SQLite file
database, HTTP Basic credentials) called as a WSGI application with the environ of a form
``POST``, and the parts of that request alone: the form's parsing (``ingest.parse_form_body``),
the credential check (``Authenticator.require``), the request tracking ids (``open_context``) and
the one-row insert (``SQLiteStorage.insert``). Each is counted by callgrind (the loop alone) in
its own process; ``glue`` is the request less its parts. The user+system CPU time per request of
the same loop outside valgrind is given for scale (it moves with the load of the machine).
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import _harness  # noqa: E402 - after the path set-up

PARTS = ("request", "parse", "auth", "context", "storage")
BODIES = 200


def _environ(body: bytes, auth: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/record",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "HTTP_AUTHORIZATION": auth,
        "HTTP_HOST": "127.0.0.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8090",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }


def _start_response(status: str, _headers: list[tuple[str, str]]) -> None:
    if not status.startswith("201"):
        raise AssertionError(status)


def _loop(args: argparse.Namespace, part: str) -> float:
    """Runs the measured loop; returns user+system CPU seconds of it."""
    import bench_collector

    directory = tempfile.mkdtemp()
    os.environ["C2C_COLLECTOR_DB_URL"] = f"sqlite:///{directory}/bench.sqlite"
    os.environ["C2C_COLLECTOR_TOKENS"] = "logger:admin:secret"
    try:
        from c2cwsgiutils.collector.http.app import create_app
        from c2cwsgiutils.collector.http.app_state import get_state
        from c2cwsgiutils.collector.intake import ingest
        from c2cwsgiutils.request_tracking import TrackingSettings, open_context

        app = create_app({})
        state = get_state(app.registry)
        auth = bench_collector.AUTH["collector"]
        bodies = [bench_collector.form_body(i) for i in range(BODIES)]
        environs = [_environ(bodies[i % BODIES], auth) for i in range(args.requests)]
        tracking = TrackingSettings.from_settings({}).headers
        for index in range(args.stored):  # the database is not empty, the caches are warm
            app(_environ(bodies[index % BODIES], auth), _start_response)

        def request(_acc: object, environ: dict[str, Any]) -> object:
            return app(environ, _start_response)

        def parse(_acc: object, environ: dict[str, Any]) -> object:
            return ingest.parse_form_body(environ["wsgi.input"].getvalue())

        def check(_acc: object, environ: dict[str, Any]) -> object:
            return state.authenticator.require_caller(
                environ.get("HTTP_X_API_KEY"), environ.get("HTTP_AUTHORIZATION"), "writer"
            )

        def context(_acc: object, environ: dict[str, Any]) -> object:
            return open_context(environ, tracking)

        def insert(_acc: object, row: tuple[Any, ...]) -> object:
            return state.storage.insert([row])

        rows = [ingest.parse_form_body(environ["wsgi.input"].getvalue()) for environ in environs]
        function, items = {
            "request": (request, environs),
            "parse": (parse, environs),
            "auth": (check, environs),
            "context": (context, environs),
            "storage": (insert, rows),
        }[part]
        usage = resource.getrusage(resource.RUSAGE_SELF)
        # Only what runs inside this C-level reduce() is counted (--toggle-collect below).
        functools.reduce(function, items, None)  # type: ignore[arg-type]
        after = resource.getrusage(resource.RUSAGE_SELF)
        state.storage.dispose()
        return after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _instructions(args: argparse.Namespace, part: str) -> float:
    argv = [sys.executable, __file__, "--inner", part, "--requests", str(args.requests)]
    return _harness.reduce_instructions([*argv, "--stored", str(args.stored)]) / args.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests")
    parser.add_argument("--stored", type=int, default=2000, help="requests made before (warm-up)")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset of the parts")
    parser.add_argument("--no-time", action="store_true", help="callgrind counts only")
    parser.add_argument("--inner", choices=PARTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        _loop(args, args.inner)
        return
    parts = [part for part in args.parts.split(",") if part]
    print(f"# single-record form POSTs, {args.stored:,} made before, {args.requests:,} measured")
    print("| part | CPU instructions per request | user+sys µs per request |\n| --- | --- | --- |")
    counts: dict[str, float] = {}
    for part in parts:
        cpu = float("nan") if args.no_time else min(_loop(args, part) for _ in range(3)) / args.requests * 1e6
        counts[part] = _instructions(args, part) if shutil.which("valgrind") else float("nan")
        print(f"| {part} | {counts[part]:,.0f} | {cpu:.1f} |", flush=True)
    if set(PARTS) <= set(counts):
        glue = counts["request"] - sum(counts[part] for part in PARTS[1:])
        print(f"| glue (request - parts) | {glue:,.0f} | |")


if __name__ == "__main__":
    main()
