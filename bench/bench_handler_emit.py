"""Cost of one ``emit`` (``handler.handle(record)``) while the collector is up, down and slow.

Compares, in one run, alternating, several repetitions:

- ``CollectorHandler`` (this project): serialise + bounded in-memory queue, a thread ships batches;
- stdlib ``QueueHandler`` + ``QueueListener`` feeding an ``HTTPHandler`` (the stdlib's
  non-blocking recipe; its emit formats the record and puts it on a ``queue.Queue``);
- stdlib ``HTTPHandler`` alone (blocking: one HTTP request per record, in the caller's thread);
- two floors: a handler whose ``emit`` does nothing (``handle``'s own cost plus this machine's
  noise), and one that only formats the message (what any handler must do in the caller's thread).

The collector is a separate process (tests/logging/collector_server.py) on 127.0.0.1: "up"
answers at once, "slow" answers after 1 s, "down" is a port where nothing listens. Records are
emitted paced (default 5,000/s in bursts of 10: after each sleep the caches are cold, which is
what the p99 then measures) and back to back (hot); the target for CollectorHandler is
p99 < 20 µs.

Usage: python bench/bench_handler_emit.py [--records N] [--repeat R] [--rates 5000,0]
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import queue
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from c2cwsgiutils.logging.collector_handler import CollectorHandler  # noqa: E402
from tests.helpers import free_port, start_process, stop_process, wait_port  # noqa: E402

SLOW_DELAY = 1.0
TARGET_P99_US = 20.0


def make_records(count: int) -> list[logging.LogRecord]:
    logger = logging.getLogger("bench.app")
    return [
        logger.makeRecord(
            "bench.app",
            logging.INFO,
            __file__,
            42,
            "user %s fetched %d items",
            ("alice", i),
            None,
            extra={"user_id": i, "route": "/items"},
        )
        for i in range(count)
    ]


def measure(handler: logging.Handler, records: list[logging.LogRecord], rate: float) -> list[float]:
    """Microseconds per ``handle`` call, at about ``rate`` records/s (bursts of 10; 0: unpaced)."""
    timings = []
    clock = time.perf_counter_ns
    started = time.perf_counter()
    for i, record in enumerate(records):
        before = clock()
        handler.handle(record)
        timings.append((clock() - before) / 1000)
        if rate and i % 10 == 9:
            wait = started + (i + 1) / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
    return timings


def summary(timings: list[float]) -> tuple[float, float, float]:
    ordered = sorted(timings)
    return (
        ordered[len(ordered) // 2],
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        ordered[-1],
    )


class FloorHandler(logging.Handler):
    """Does nothing in ``emit``: what ``handle`` costs on this machine, noise included."""

    def emit(self, record: logging.LogRecord) -> None:
        pass


class MessageOnlyHandler(logging.Handler):
    """Only formats the message: the least a shipping handler must do in the caller's thread."""

    def emit(self, record: logging.LogRecord) -> None:
        record.getMessage()


def build(kind: str, url: str, spool: str) -> tuple[logging.Handler, object]:
    host = url.removeprefix("http://")
    if kind == "CollectorHandler":
        handler = CollectorHandler(url=url, service="bench", spool_dir=spool, flush_timeout=0.2)
        return handler, None
    if kind == "floor (no-op emit)":
        return FloorHandler(), None
    if kind == "floor (getMessage only)":
        return MessageOnlyHandler(), None
    if kind == "QueueHandler+HTTPHandler":
        q: queue.Queue[logging.LogRecord] = queue.Queue(-1)
        target = logging.handlers.HTTPHandler(host, "/api/v1/record", "POST")
        listener = logging.handlers.QueueListener(q, target)
        listener.start()
        return logging.handlers.QueueHandler(q), listener
    return logging.handlers.HTTPHandler(host, "/api/v1/record", "POST"), None


def close(handler: logging.Handler, extra: object) -> None:
    if isinstance(extra, logging.handlers.QueueListener):
        # Do not wait for a listener stuck behind a slow collector: drop what it still holds.
        q = extra.queue
        while True:
            try:
                q.get_nowait()  # type: ignore[attr-defined]
            except queue.Empty:
                break
        extra.stop()
    handler.close()


def print_table(title: str, results: dict[tuple[str, str], list[tuple[float, float, float]]]) -> None:
    print(title)
    print(f"{'collector':<8} {'handler':<26} {'p50':>9} {'p99':>9} {'max':>10} {'p99 ratio':>10}")
    ok = True
    for scenario in SCENARIOS:
        ours_p99 = statistics.median(r[1] for r in results[(scenario, "CollectorHandler")])
        for kind in KINDS:
            runs = results[(scenario, kind)]
            p50, p99, worst = (statistics.median(r[i] for r in runs) for i in range(3))
            ratio = p99 / ours_p99 if ours_p99 else float("inf")
            print(f"{scenario:<8} {kind:<26} {p50:>9.1f} {p99:>9.1f} {worst:>10.1f} {ratio:>9.1f}x")
        ok = ok and ours_p99 < TARGET_P99_US
    verdict = "met" if ok else "MISSED"
    print(f"target: CollectorHandler p99 < {TARGET_P99_US:.0f} µs in every scenario: {verdict}\n")


SCENARIOS = ("up", "down", "slow")
KINDS = (
    "CollectorHandler",
    "QueueHandler+HTTPHandler",
    "HTTPHandler (blocking)",
    "floor (no-op emit)",
    "floor (getMessage only)",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument(
        "--rates",
        default="5000,0",
        help="comma-separated records/s (in bursts of 10); 0 = back to back (default: both)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rates = [float(rate) for rate in args.rates.split(",")]
    logging.raiseExceptions = False  # HTTPHandler prints a traceback per failed record otherwise

    tmp = Path(tempfile.mkdtemp(prefix="bench-emit-"))
    up_port, slow_port, down_port = free_port(), free_port(), free_port()
    servers = []
    for port, delay in ((up_port, 0.0), (slow_port, SLOW_DELAY)):
        cmd = ["python", "-m", "tests.logging.collector_server", "--port", str(port)]
        cmd += ["--store", str(tmp / f"store-{port}.ndjson"), "--delay", str(delay)]
        process = start_process(cmd)
        wait_port(port, process=process)
        servers.append(process)
    urls = {
        "up": f"http://127.0.0.1:{up_port}",
        "down": f"http://127.0.0.1:{down_port}",
        "slow": f"http://127.0.0.1:{slow_port}",
    }
    results: dict[float, dict[tuple[str, str], list[tuple[float, float, float]]]] = {r: {} for r in rates}
    try:
        for rep in range(args.repeat):
            for rate in rates:
                for scenario in SCENARIOS:
                    for kind in KINDS if rep % 2 == 0 else reversed(KINDS):
                        count = args.records
                        if kind.startswith("HTTPHandler"):
                            count = 5 if scenario == "slow" else min(count, 2000)
                        spool = str(tmp / f"spool-{scenario}-{rate}-{rep}")
                        handler, extra = build(kind, urls[scenario], spool)
                        timings = measure(handler, make_records(count), rate if count > 100 else 0)
                        close(handler, extra)
                        results[rate].setdefault((scenario, kind), []).append(summary(timings))
                        sys.stderr.write(".")
                        sys.stderr.flush()
    finally:
        for process in servers:
            stop_process(process)
    sys.stderr.write("\n")

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load}\n")
    for rate in rates:
        pace = f"paced at {rate:.0f}/s in bursts of 10" if rate else "back to back"
        title = f"emit cost in µs (median over {args.repeat} runs of p50 / p99 / max), "
        title += f"{args.records} records/run, {pace}"
        print_table(title, results[rate])


if __name__ == "__main__":
    main()
