"""Cost of the route/render timers per request: plain Pyramid vs with our metrics backends on.

In-process WSGI calls of a hello-world JSON route (no server, no network), each variant in a fresh
subprocess, variants alternated, several repetitions; prints the median microseconds per request
and the ratio to plain Pyramid. Times are the worker's CPU time (``time.process_time``, user +
system, so the statsd send counts): on a shared, loaded machine that is far steadier than wall
time, and the code measured does not wait on anything. The peer is the original c2cwsgiutils 6.1.10, whose
``c2cwsgiutils.stats_pyramid`` records Prometheus summaries (installed by this script in
``bench/.peers/``).

Usage: python bench/bench_stats.py [--repeat 5] [--requests 20000] [--no-peer]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER_VERSION = "6.1.10"
PEER_VENV = HERE / ".peers" / f"c2cwsgiutils-{PEER_VERSION}"

WORKER = r"""
import io, json, os, statistics, sys, time
variant, count = sys.argv[1], int(sys.argv[2])
from pyramid.config import Configurator

settings = {}
if variant == "memory":
    settings["c2c.stats_view"] = "true"
elif variant == "statsd":
    settings["c2c.statsd_address"] = os.environ["BENCH_STATSD"]
elif variant == "prometheus":
    settings["c2c.prometheus"] = "true"
elif variant == "all":
    settings.update({"c2c.stats_view": "true", "c2c.statsd_address": os.environ["BENCH_STATSD"],
                     "c2c.prometheus": "true"})
config = Configurator(settings=settings)
if variant in ("memory", "statsd", "prometheus", "all"):
    config.include("c2cwsgiutils.stats")
elif variant == "peer-stats":
    config.include("c2cwsgiutils.stats_pyramid")
config.add_route("hello", "/hello")
config.add_view(lambda request: {"hello": "world"}, route_name="hello", renderer="json")
app = config.make_wsgi_app()

def start_response(status, headers, exc_info=None):
    return None

def call():
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/hello", "QUERY_STRING": "", "SERVER_NAME": "localhost",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
    }
    return b"".join(app(environ, start_response))

assert call() == b'{"hello": "world"}'
for _ in range(1000):
    call()
batch = max(1, count // 10)
per_request = []
for _ in range(10):
    start = time.process_time()
    for _ in range(batch):
        call()
    per_request.append((time.process_time() - start) / batch * 1e6)
print(json.dumps({"variant": variant, "us": statistics.median(per_request)}))
"""

OURS = ["plain", "memory", "statsd", "prometheus", "all"]
PEER = ["peer-plain", "peer-stats"]


def ensure_peer() -> Path | None:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing c2cwsgiutils[standard]=={PEER_VERSION} in {PEER_VENV} ...", flush=True)
        PEER_VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        result = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"c2cwsgiutils[standard]=={PEER_VERSION}", "webtest"],
            check=False,
        )
        if result.returncode != 0:
            print("peer install failed; measuring ours only")
            return None
    return python


def drain(sock: socket.socket) -> None:
    # A real statsd listener: reads everything so that sends never hit a full buffer.
    while True:
        try:
            sock.recv(65536)
        except OSError:
            return


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()

    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    threading.Thread(target=drain, args=(listener,), daemon=True).start()
    env_extra = {"BENCH_STATSD": f"127.0.0.1:{listener.getsockname()[1]}"}

    peer = None if args.no_peer else ensure_peer()
    runs: list[tuple[str, str]] = [(v, sys.executable) for v in OURS]
    if peer is not None:
        runs += [(v, str(peer)) for v in PEER]

    results: dict[str, list[float]] = {name: [] for name, _ in runs}
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as worker:
        worker.write(WORKER)
    import os

    env = {**os.environ, **env_extra, "PYTHONPATH": str(ROOT)}
    for repeat in range(args.repeat):
        for name, python in runs if repeat % 2 == 0 else list(reversed(runs)):
            variant = "plain" if name == "peer-plain" else name
            child_env = dict(env)
            if python != sys.executable:
                child_env.pop("PYTHONPATH")
            out = subprocess.run(
                [python, worker.name, variant, str(args.requests)],
                env=child_env,
                capture_output=True,
                text=True,
                check=True,
                cwd=tempfile.gettempdir(),
            ).stdout
            results[name].append(json.loads(out.strip().splitlines()[-1])["us"])
    Path(worker.name).unlink()
    listener.close()

    plain = statistics.median(results["plain"])
    peer_plain = statistics.median(results["peer-plain"]) if "peer-plain" in results else None
    print(f"{'variant':<14}{'us/request':>12}{'overhead us':>13}{'vs plain':>10}   (median of {args.repeat})")
    for name, values in results.items():
        median = statistics.median(values)
        base = peer_plain if name.startswith("peer") and peer_plain else plain
        print(f"{name:<14}{median:>12.1f}{median - base:>13.1f}{median / base:>9.2f}x")
    if "peer-stats" in results and peer_plain:
        peer_cost = statistics.median(results["peer-stats"]) - peer_plain
        for name in ("memory", "statsd", "prometheus"):
            ours = statistics.median(results[name]) - plain
            print(f"overhead {name} / original stats_pyramid: {ours / peer_cost:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
