"""Spans and Celery integration overhead.

1. ``with span("work") as s: s.set(..); s.set(..)``: events off (setting off, and logging not
   configured at all), events on (to a handler that drops the record: our cost, not a handler's),
   events on to a text StreamHandler writing to /dev/null; beside it one plain ``logger.info``
   with two extras and, as a peer, an OpenTelemetry SDK span with two attributes (in its own venv
   under bench/.peers/otel, no exporter). Targets: on <= 5 us, off <= 0.5 us.
2. Celery: a task run eagerly (``task.apply()``) and a task published to kombu's in-memory broker
   (``apply_async``), bare app vs app with ``c2cwsgiutils.celery.setup``: the signals are
   process-wide, so the integration is connected/disconnected between alternating rounds.

Prints medians of several alternating repetitions, per operation, and the ratios.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import time
import venv
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from c2cwsgiutils import spans
from c2cwsgiutils.spans import span

REPS = 7
N = 20_000
PEERS = Path(__file__).resolve().parent / ".peers"

OTEL_SNIPPET = """
import sys, time
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
trace.set_tracer_provider(TracerProvider())
tracer = trace.get_tracer("bench")
n = int(sys.argv[1])
start = time.process_time()
for _ in range(n):
    with tracer.start_as_current_span("work") as s:
        s.set_attribute("a", 1)
        s.set_attribute("b", "x")
print((time.process_time() - start) / n * 1e6)
"""


def otel_python() -> Path | None:
    """The peer venv's interpreter, created on first use (None when it cannot be installed)."""
    folder = PEERS / "otel"
    python = folder / "bin" / "python"
    if not python.exists():
        print("installing the OpenTelemetry SDK peer into bench/.peers/otel ...", flush=True)
        venv.create(folder, with_pip=True)
        result = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "opentelemetry-sdk"], check=False
        )
        if result.returncode != 0:
            return None
    return python


def per_op(func: Callable[[], None], n: int = N) -> float:
    # CPU time of this process: the machine is shared, wall time measures the neighbours too.
    start = time.process_time()
    for _ in range(n):
        func()
    return (time.process_time() - start) / n * 1e6


def two_fields() -> None:
    with span("work") as s:
        s.set("user", "bob")
        s.set("rows", 3)


def empty() -> None:
    pass


class Drop(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        pass


def bench_spans() -> None:
    logger = logging.getLogger("c2cwsgiutils.spans")
    plain = logging.getLogger("bench.plain")
    drop = Drop()
    devnull = open(os.devnull, "w")  # noqa: SIM115
    text = logging.StreamHandler(devnull)
    text.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    otel = otel_python()

    def off_setting() -> float:
        spans.configure(events=False)
        logger.setLevel(logging.INFO)
        return per_op(two_fields)

    def off_no_logging() -> float:
        spans.configure(events=True)
        logger.setLevel(logging.NOTSET)  # root at WARNING, as with nothing configured
        return per_op(two_fields)

    def on_drop() -> float:
        spans.configure(events=True)
        logger.setLevel(logging.INFO)
        logger.handlers[:] = [drop]
        logger.propagate = False
        return per_op(two_fields)

    def on_text() -> float:
        spans.configure(events=True)
        logger.setLevel(logging.INFO)
        logger.handlers[:] = [text]
        logger.propagate = False
        return per_op(two_fields)

    def plain_log() -> float:
        plain.setLevel(logging.INFO)
        plain.handlers[:] = [drop]
        plain.propagate = False
        return per_op(lambda: plain.info("work", extra={"user": "bob", "rows": 3}))

    def otel_span() -> float:
        if otel is None:
            return float("nan")
        out = subprocess.run([str(otel), "-c", OTEL_SNIPPET, str(N)], capture_output=True, check=True)
        return float(out.stdout)

    cases: dict[str, Callable[[], float]] = {
        "span, events off (C2C_SPANS_EVENTS=false)": off_setting,
        "span, events off (no logging configured)": off_no_logging,
        "span, events on, handler drops records": on_drop,
        "span, events on, text handler to /dev/null": on_text,
        "peer: logger.info + 2 extras, handler drops": plain_log,
        "peer: OpenTelemetry SDK span + 2 attributes": otel_span,
        "reference: an empty function call": lambda: per_op(empty),
    }
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(REPS):
        for name, case in cases.items():
            results[name].append(case())
    logger.handlers[:] = []
    logger.propagate = True
    devnull.close()
    medians = {name: statistics.median(values) for name, values in results.items()}
    reference = medians["span, events on, handler drops records"]
    print(f"\nspan enter/exit with two fields ({REPS} alternating reps x {N}; median us/op)")
    print(f"{'case':48} {'us/op':>8} {'vs span on':>11}")
    for name, value in medians.items():
        print(f"{name:48} {value:8.3f} {value / reference:10.2f}x")


def bench_celery() -> None:
    from celery import Celery, signals

    from c2cwsgiutils import celery as c2c_celery

    app = Celery("bench", broker="memory://", backend="cache+memory://")
    app.conf.task_store_eager_result = False

    @app.task
    def add(a: int, b: int) -> int:
        return a + b

    receivers = [
        (signals.before_task_publish, "_before_task_publish"),
        (signals.task_prerun, "_task_prerun"),
        (signals.task_postrun, "_task_postrun"),
    ]

    def integrated(on: bool) -> None:
        if on:
            c2c_celery.setup(app, log_format=False)
        else:
            for signal, name in receivers:
                signal.disconnect(dispatch_uid=f"c2cwsgiutils.celery{name}")

    logging.getLogger("c2cwsgiutils.spans").setLevel(logging.INFO)
    logging.getLogger("c2cwsgiutils.spans").handlers[:] = [Drop()]
    logging.getLogger("c2cwsgiutils.spans").propagate = False
    spans.configure(events=True)
    n = 2000
    variants = ("bare", "integrated", "integrated, span events off")
    results: dict[str, list[float]] = {f"{k} {v}": [] for k in ("eager", "publish") for v in variants}
    with app.connection_for_write() as connection, app.producer_pool.acquire(block=True) as producer:
        assert connection is not None
        for _ in range(REPS):
            for label in variants:
                integrated(label != "bare")
                spans.configure(events=label == "integrated")
                results[f"eager {label}"].append(per_op(lambda: add.apply((1, 2)), n))
                results[f"publish {label}"].append(
                    per_op(lambda: add.apply_async((1, 2), producer=producer), n)
                )
            with app.connection_for_write() as purge:
                purge.default_channel.queue_purge("celery")
    integrated(False)
    medians = {name: statistics.median(values) for name, values in results.items()}
    print(f"\nCelery task overhead ({REPS} alternating reps x {n}; median us/op)")
    print(f"{'case':62} {'us/op':>8} {'overhead':>10} {'ratio':>7}")
    for kind, title in (("eager", "task.apply()"), ("publish", "apply_async() to memory://")):
        bare = medians[f"{kind} bare"]
        for label in variants:
            value = medians[f"{kind} {label}"]
            print(f"{title + ', ' + label:62} {value:8.1f} {value - bare:8.1f}us {value / bare:6.2f}x")


if __name__ == "__main__":
    bench_spans()
    bench_celery()
