"""Spans and Celery integration overhead.

1. ``with span("work") as s: s.set(..); s.set(..)``: events off (setting off, and logging not
   configured at all); events on to a handler whose ``handle`` only appends the record to a list
   emptied every 1000 records (like the CollectorHandler, which only enqueues, its sender thread
   taking 1000 at a time: the span's own cost, building the record and dispatching it), to the
   same list never emptied (every record of the repetition stays alive: adds the garbage
   collector's and a growing heap's cost), to a ``logging.Handler`` subclass that drops it (adds
   the standard handler's lock and filter calls), and to the JSON handler / a text handler writing
   to /dev/null (adds the formatting); beside it one plain ``logger.info`` with two extras and, as
   a peer, an OpenTelemetry SDK span with two attributes (in its own venv under bench/.peers/otel, no
   exporter). Targets: on <= 5 us (the list handler), off <= 0.5 us. The hot path is compiled with
   mypyc at installation (setup.py); the three target cases are also measured on the plain Python
   build (C2C_PURE_PYTHON=1, in a child process), alternating with the others. The ``inline:``
   rows time the same statement written in the timing loop itself, without the call of the
   function ``two_fields`` around it (that call is not part of a span's cost; the reference rows
   give both loops' own cost).
2. Celery: a task run eagerly (``task.apply()``) and a task published to kombu's in-memory broker
   (``apply_async``), bare app vs app with ``c2cwsgiutils.celery.setup``: the signals are
   process-wide, so the integration is connected/disconnected between alternating rounds.

Prints medians of several alternating repetitions, per operation, and the ratios.
"""

from __future__ import annotations

import json
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

import _harness

from c2cwsgiutils import spans
from c2cwsgiutils.logging.json import JsonLogHandler
from c2cwsgiutils.spans import span

REPS = 7
N = 20_000
PEERS = Path(__file__).resolve().parent / ".peers"

OTEL_SNIPPET = """
import sys, time
sys.path.insert(0, sys.argv[2])
import _harness
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
trace.set_tracer_provider(TracerProvider())
tracer = trace.get_tracer("bench")
n = int(sys.argv[1])
def loop():
    start = time.process_time()
    for _ in range(n):
        with tracer.start_as_current_span("work") as s:
            s.set_attribute("a", 1)
            s.set_attribute("b", "x")
    return (time.process_time() - start) / n * 1e6
print(*_harness.bracketed(loop))
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


def inline(n: int = N) -> float:
    """The span statement timed inline in the loop: without the call of a wrapper function."""
    start = time.process_time()
    for _ in range(n):
        with span("work") as s:
            s.set("user", "bob")
            s.set("rows", 3)
    return (time.process_time() - start) / n * 1e6


def empty_loop(n: int = N) -> float:
    start = time.process_time()
    for _ in range(n):
        pass
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


class Append(logging.Handler):
    """Queues the records, without the standard handler's lock and filter calls.

    Like the CollectorHandler, whose sender thread takes them ``C2C_COLLECTOR_BATCH_SIZE`` (1000)
    at a time: the queue is emptied when it holds ``batch`` records. ``batch=None`` keeps every
    record of the repetition (20,000: the garbage collector and the memory of a growing heap).
    """

    def __init__(self, batch: int | None = 1000) -> None:
        super().__init__()
        self.batch = batch
        self.records: list[logging.LogRecord] = []

    def handle(self, record: logging.LogRecord) -> bool:
        records = self.records
        records.append(record)
        if len(records) == self.batch:
            records.clear()
        return True


def bench_spans() -> None:
    logger = logging.getLogger("c2cwsgiutils.spans")
    plain = logging.getLogger("bench.plain")
    drop = Drop()
    append = Append()
    keep = Append(batch=None)
    devnull = open(os.devnull, "w")  # noqa: SIM115
    json_handler = JsonLogHandler(devnull)
    text = logging.StreamHandler(devnull)
    text.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    otel = otel_python()

    def off_setting() -> float:
        spans.configure(events=False)
        logger.setLevel(logging.INFO)
        return per_op(two_fields)

    def off_setting_inline() -> float:
        spans.configure(events=False)
        logger.setLevel(logging.INFO)
        return inline()

    def off_no_logging() -> float:
        spans.configure(events=True)
        logger.setLevel(logging.NOTSET)  # root at WARNING, as with nothing configured
        return per_op(two_fields)

    def on(
        handler: logging.Handler, measure: Callable[[], float] = lambda: per_op(two_fields)
    ) -> Callable[[], float]:
        def run() -> float:
            spans.configure(events=True)
            logger.setLevel(logging.INFO)
            logger.handlers[:] = [handler]
            logger.propagate = False
            result = measure()
            append.records.clear()
            keep.records.clear()
            return result

        return run

    def plain_log() -> float:
        plain.setLevel(logging.INFO)
        plain.handlers[:] = [drop]
        plain.propagate = False
        return per_op(lambda: plain.info("work", extra={"user": "bob", "rows": 3}))

    def otel_span() -> float | tuple[float, float]:
        """CPU us/op in the peer's venv, and the machine's speed measured there around it."""
        if otel is None:
            return float("nan")
        bench = str(Path(__file__).resolve().parent)
        out = subprocess.run([str(otel), "-c", OTEL_SNIPPET, str(N), bench], capture_output=True, check=True)
        value, speed = out.stdout.split()
        return float(value), float(speed)

    def plain_python() -> dict[str, list[float]]:
        """The same target cases in a child process running the plain Python build: for each, its
        CPU us/op and the machine's speed around it."""
        env = {**os.environ, "C2C_PURE_PYTHON": "1"}
        out = subprocess.run(
            [sys.executable, __file__, "--plain-python-child"], env=env, capture_output=True, check=True
        )
        return dict(json.loads(out.stdout))

    # A case gives its CPU us/op, or that and the machine's speed it measured itself (a child process).
    cases: dict[str, Callable[[], float | tuple[float, float]]] = {
        "span, events off (C2C_SPANS_EVENTS=false)": off_setting,
        "span, events off (no logging configured)": off_no_logging,
        "span, events on, handler queues (list, 1000)": on(append),
        "span, events on, list handler keeps all": on(keep),
        "inline: span, events off (setting)": off_setting_inline,
        "inline: span, events on, list handler": on(append, inline),
        "span, events on, logging.Handler drops them": on(drop),
        "span, events on, JsonLogHandler to /dev/null": on(json_handler),
        "span, events on, text handler to /dev/null": on(text),
        "peer: logger.info + 2 extras, handler drops": plain_log,
        "peer: OpenTelemetry SDK span + 2 attributes": otel_span,
        "reference: an empty function call": lambda: per_op(empty),
        "reference: the empty loop (inline rows)": empty_loop,
    }
    results: dict[str, list[float]] = {name: [] for name in cases}
    # The machine's speed around each measurement (see _harness.machine_speed).
    speeds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(REPS):
        for name, case in cases.items():
            outcome, speed = _harness.bracketed(case)
            value, speed = outcome if isinstance(outcome, tuple) else (outcome, speed)
            results[name].append(value)
            speeds[name].append(speed)
        for name, (value, speed) in plain_python().items():
            results.setdefault(f"plain Python build: {name[6:]}", []).append(value)
            speeds.setdefault(f"plain Python build: {name[6:]}", []).append(speed)
    logger.handlers[:] = []
    logger.propagate = True
    devnull.close()
    medians = {name: statistics.median(values) for name, values in results.items()}
    best = {name: min(values) for name, values in results.items()}
    fastest = min(min(values) for values in speeds.values())
    slowest = max(max(values) for values in speeds.values())
    full = {name: _harness.at_full_speed(results[name], speeds[name], fastest) for name in results}
    reference = medians["span, events on, handler queues (list, 1000)"]
    targets = {
        "span, events off (C2C_SPANS_EVENTS=false)": 0.5,
        "span, events off (no logging configured)": 0.5,
        "span, events on, handler queues (list, 1000)": 5.0,
        "inline: span, events off (setting)": 0.5,
        "inline: span, events on, list handler": 5.0,
    }
    build = "compiled (mypyc)" if spans.compiled else "plain Python (not compiled!)"
    print(f"\nspan enter/exit with two fields ({REPS} alternating reps x {N}; CPU us/op; {build})")
    print(
        f"machine speed (a fixed Python call, CPU us): fastest {fastest:.3f}, slowest {slowest:.3f}; "
        "'full speed': each repetition scaled to the fastest, median"
    )
    print(f"{'case':46} {'median':>8} {'best':>8} {'full speed':>10} {'vs on':>7}  target")
    for name, value in medians.items():
        target = targets.get(name)
        verdict = (
            # Judged on the median: the best of the repetitions says what the code can do, not what it does.
            ""
            if target is None
            else f"<= {target:g} us: {'met' if value <= target else 'NOT met'}"
            # How many repetitions were under it: this machine's speed swings (2-4x) in phases.
            f" ({sum(v <= target for v in results[name])} of {len(results[name])} reps under;"
            f" at full speed {'met' if full[name] <= target else 'NOT met'})"
        )
        print(
            f"{name:46} {value:8.3f} {best[name]:8.3f} {full[name]:10.3f}"
            f" {value / reference:6.2f}x  {verdict}"
        )


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
    speeds: dict[str, list[float]] = {name: [] for name in results}
    with app.connection_for_write() as connection, app.producer_pool.acquire(block=True) as producer:
        assert connection is not None
        for _ in range(REPS):
            for label in variants:
                integrated(label != "bare")
                spans.configure(events=label == "integrated")
                for kind, run in (
                    ("eager", lambda: add.apply((1, 2))),
                    ("publish", lambda: add.apply_async((1, 2), producer=producer)),
                ):
                    value, speed = _harness.bracketed(lambda run=run: per_op(run, n))
                    results[f"{kind} {label}"].append(value)
                    speeds[f"{kind} {label}"].append(speed)
            with app.connection_for_write() as purge:
                purge.default_channel.queue_purge("celery")
    integrated(False)
    medians = {name: statistics.median(values) for name, values in results.items()}
    fastest = min(min(values) for values in speeds.values())
    full = {name: _harness.at_full_speed(results[name], speeds[name], fastest) for name in results}
    print(f"\nCelery task overhead ({REPS} alternating reps x {n}; median us/op; and at full speed)")
    print(f"{'case':58} {'us/op':>8} {'overhead':>10} {'ratio':>7} {'full speed':>11} {'overhead':>10}")
    for kind, title in (("eager", "task.apply()"), ("publish", "apply_async() to memory://")):
        bare = medians[f"{kind} bare"]
        bare_full = full[f"{kind} bare"]
        for label in variants:
            value = medians[f"{kind} {label}"]
            fast = full[f"{kind} {label}"]
            print(
                f"{title + ', ' + label:58} {value:8.1f} {value - bare:8.1f}us {value / bare:6.2f}x"
                f" {fast:11.1f} {fast - bare_full:8.1f}us"
            )


def plain_python_child() -> None:
    """Print the target cases' CPU us/op, each with the machine's speed around it, as JSON (run
    with C2C_PURE_PYTHON=1 by bench_spans)."""
    logger = logging.getLogger("c2cwsgiutils.spans")
    append = Append()
    assert not spans.compiled
    results = {}

    def measure() -> tuple[float, float]:
        return _harness.bracketed(lambda: per_op(two_fields))

    spans.configure(events=False)
    logger.setLevel(logging.INFO)
    results["span, events off (C2C_SPANS_EVENTS=false)"] = measure()
    spans.configure(events=True)
    logger.setLevel(logging.NOTSET)
    results["span, events off (no logging configured)"] = measure()
    logger.setLevel(logging.INFO)
    logger.handlers[:] = [append]
    logger.propagate = False
    results["span, events on, handler queues (list, 1000)"] = measure()
    print(json.dumps(results))


if __name__ == "__main__":
    if "--plain-python-child" in sys.argv:
        plain_python_child()
    else:
        bench_spans()
        bench_celery()
