"""Overload of the collector: many concurrent NDJSON clients against one ``c2cwsgiutils-logs serve``.

    .venv/bin/python bench/bench_overload.py [--clients 192] [--seconds 20] [--batch 1000]
        [--timeout 10] [--ingest-port] [--processes 4]

Each client is a thread with its own keep-alive connection that POSTs NDJSON batches (records of
the CollectorHandler's shape, each with its own ``c2c_uuid``) as fast as it is answered, with a
client timeout of ``--timeout`` seconds, like the CollectorHandler: after a 503/429 it waits for
``Retry-After`` (jittered) and resends the same batch; after a time-out it reconnects and resends
it. Prints the answers by status, the time-outs, p50/p99 latency of every answer and of the 2xx
ones, the records acknowledged and stored, and the peak RSS of the server's processes (sum over
its process group, sampled every 0.2 s).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _processes import group_rss  # noqa: E402

from tests.helpers import free_port, wait_port  # noqa: E402


def batch_body(prefix: str, start: int, size: int) -> bytes:
    now = time.time()
    lines = [
        json.dumps(
            {
                "c2c_uuid": f"{prefix}{start + i:012x}",
                "timestamp": "",
                "created": now,
                "level": 6,
                "level_name": "INFO",
                "levelno": 20,
                "msg": f"overload message {start + i}",
                "logger_name": "bench.overload",
                "file": "/app/views.py",
                "line": 12,
                "function": "view",
                "pid": 42,
                "process_name": "MainProcess",
                "thread_name": "MainThread",
                "host": "web-1",
                "service": "bench",
                "request_id": f"{(start + i) // 10:032x}",
                "trace_id": "",
                "span_id": "",
                "parent_span_id": "",
                "kind": "web",
                "task_id": "",
            }
        )
        for i in range(size)
    ]
    return ("\n".join(lines) + "\n").encode()


def _client(port: int, deadline: float, batch: int, timeout: float, results: list[Any]) -> None:
    prefix = os.urandom(10).hex()
    counter = 0
    body = batch_body(prefix, counter, batch)
    connection: http.client.HTTPConnection | None = None
    headers = {"Content-Type": "application/x-ndjson", "Authorization": "Bearer secret"}
    while time.monotonic() < deadline:
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        started = time.monotonic()
        try:
            connection.request("POST", "/api/v1/record", body, headers)
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            kind = "timeout" if isinstance(exc, TimeoutError) else f"error {type(exc).__name__}"
            results.append((kind, time.monotonic() - started, 0))
            connection.close()
            connection = None
            continue
        elapsed = time.monotonic() - started
        status = response.status
        if 200 <= status < 300:
            results.append((status, elapsed, batch))
            counter += batch
            body = batch_body(prefix, counter, batch)
            continue
        results.append((status, elapsed, 0))
        if status in (429, 503):
            try:
                wait = float(response.headers.get("Retry-After") or 1)
            except ValueError:
                wait = 1.0
            time.sleep(min(wait, 30.0) * random.uniform(0.5, 1.5))
        elif status >= 400:
            raise RuntimeError(f"status {status}: {answer[:200]!r}")
    if connection is not None:
        connection.close()


def _process(args: tuple[int, int, float, int, float]) -> list[Any]:
    port, threads, deadline_in, batch, timeout = args
    deadline = time.monotonic() + deadline_in
    results: list[Any] = []
    workers: list[threading.Thread] = []
    for _ in range(threads):
        workers.append(threading.Thread(target=_client, args=(port, deadline, batch, timeout, results)))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def _count(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("HEAD", "/api/v1/record", headers={"Authorization": "Bearer secret"})
    response = connection.getresponse()
    response.read()
    connection.close()
    return int(response.headers["X-Record-Count"])


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=192)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=1000, help="records per POST (as the CollectorHandler)")
    parser.add_argument("--timeout", type=float, default=10.0, help="client time-out in seconds")
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--ingest-port", action="store_true", help="send to the ingest port")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-overload-") as directory:
        port = free_port()
        ingest_port = free_port() if args.ingest_port else 0
        argv = [
            sys.executable,
            "-m",
            "c2cwsgiutils.collector.cli",
            "serve",
            "--port",
            str(port),
            "--db-url",
            f"sqlite:///{directory}/c.sqlite",
            *(["--ingest-port", str(ingest_port)] if ingest_port else []),
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "C2C_COLLECTOR_TOKENS": "bench:admin:secret"}
        with open(Path(directory) / "server.log", "wb") as log:
            server = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_port(port, 60, process=server)
            if ingest_port:
                wait_port(ingest_port, 60, process=server)
            peak = [group_rss(server.pid)]
            idle_rss = peak[0]
            sampling = threading.Event()

            def sample() -> None:
                while not sampling.wait(0.2):
                    peak[0] = max(peak[0], group_rss(server.pid))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            per_process = [args.clients // args.processes] * args.processes
            per_process[0] += args.clients - sum(per_process)
            target = ingest_port or port
            started = time.monotonic()
            with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
                chunks = pool.map(
                    _process,
                    [(target, n, args.seconds, args.batch, args.timeout) for n in per_process],
                )
            elapsed = time.monotonic() - started
            sampling.set()
            sampler.join()
            stored = _count(port)
        finally:
            os.killpg(server.pid, 15)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, 9)
                server.wait()
    results = [item for chunk in chunks for item in chunk]
    statuses: dict[str, int] = {}
    for status, _, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    every = [elapsed_s for status, elapsed_s, _ in results if isinstance(status, int)]
    ok = [elapsed_s for status, elapsed_s, _ in results if isinstance(status, int) and status < 300]
    acknowledged = sum(records for _, _, records in results)
    print(
        f"{args.clients} clients, {args.batch} records per POST, {args.timeout:g} s client time-out, "
        f"{elapsed:.1f} s, {'ingest port' if args.ingest_port else 'main port'}"
    )
    print("answers: " + ", ".join(f"{key}: {value}" for key, value in sorted(statuses.items())))
    print(
        f"latency of answers: p50 {_percentile(every, 0.5):.3f} s, p99 {_percentile(every, 0.99):.3f} s, "
        f"max {max(every, default=float('nan')):.3f} s"
    )
    print(f"latency of 2xx: p50 {_percentile(ok, 0.5):.3f} s, p99 {_percentile(ok, 0.99):.3f} s")
    print(
        f"records acknowledged {acknowledged} ({acknowledged / elapsed:.0f}/s), stored {stored}, "
        f"mean 2xx latency {statistics.fmean(ok) if ok else float('nan'):.3f} s"
    )
    print(f"server RSS: idle {idle_rss / 2**20:.0f} MiB, peak {peak[0] / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
