"""Import + build time of a hello-world Pyramid app: plain, with our include, with the original's.

Each sample is a fresh interpreter that times, from its first line, the imports and the
Configurator up to ``make_wsgi_app()`` plus one request (so lazy imports count too); the whole
process wall time is shown beside it. The variants alternate, in a rotating order, for
``--rounds`` rounds; medians and ratios to plain Pyramid are printed.
Target: ours at most 1.5x plain.

    python bench/bench_startup.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import NEUTRAL_CWD, original_python

APP = """
import time
_start = time.perf_counter()
from pyramid.config import Configurator
from webob import Request

def hello(request):
    return {"hello": "world"}

with Configurator(settings={}) as config:
    INCLUDE
    config.add_route("hello", "/hello")
    config.add_view(hello, route_name="hello", renderer="json")
    app = config.make_wsgi_app()
response = Request.blank("/hello").get_response(app)
assert response.status_code == 200, response.status
_elapsed = time.perf_counter() - _start
import json
print(json.dumps({"ms": _elapsed * 1000}))
"""


def _script(include: bool) -> str:
    return APP.replace("INCLUDE", 'config.include("c2cwsgiutils.pyramid")' if include else "pass")


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("C2C_", "PYTHON"))}
    return env


def _sample(python: Path, script: str) -> tuple[float, float]:
    start = time.perf_counter()
    result = subprocess.run(
        [str(python), "-c", script],
        capture_output=True,
        text=True,
        check=False,
        cwd=NEUTRAL_CWD,
        env=_environment(),
    )
    wall = (time.perf_counter() - start) * 1000
    if result.returncode != 0:
        raise SystemExit(f"{python} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])["ms"], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    ours = Path(sys.executable)
    variants = {
        "plain pyramid": (ours, _script(include=False)),
        "c2cwsgiutils (ours)": (ours, _script(include=True)),
        "c2cwsgiutils 6.1.10": (original_python(), _script(include=True)),
    }
    for python, script in variants.values():  # warm the file system caches and .pyc files
        _sample(python, script)

    inner: dict[str, list[float]] = {name: [] for name in variants}
    wall: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(args.rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            ms, total = _sample(*variants[name])
            inner[name].append(ms)
            wall[name].append(total)

    base_inner = statistics.median(inner["plain pyramid"])
    base_wall = statistics.median(wall["plain pyramid"])
    print(f"import + app build + 1 request, fresh process, median of {args.rounds} alternating rounds")
    print(f"{'variant':<22} {'import+build ms':>16} {'ratio':>7} {'process ms':>11} {'ratio':>7}")
    for name in names:
        median_inner = statistics.median(inner[name])
        median_wall = statistics.median(wall[name])
        print(
            f"{name:<22} {median_inner:>16.1f} {median_inner / base_inner:>6.2f}x "
            f"{median_wall:>11.1f} {median_wall / base_wall:>6.2f}x"
        )
    ratio = statistics.median(inner["c2cwsgiutils (ours)"]) / base_inner
    print(f"target: ours <= 1.50x plain (import+build): {'OK' if ratio <= 1.5 else 'MISSED'} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
