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
import resource
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


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _sample(python: Path, script: str) -> tuple[float, float, float]:
    """(import+build ms measured inside, whole process wall ms, whole process CPU ms)."""
    cpu_before = _cpu_of_children()
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
    cpu = (_cpu_of_children() - cpu_before) * 1000
    if result.returncode != 0:
        raise SystemExit(f"{python} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])["ms"], wall, cpu


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

    names = list(variants)
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(_sample(*variants[name]))

    def median(name: str, column: int) -> float:
        return statistics.median(sample[column] for sample in samples[name])

    print(f"import + app build + 1 request, fresh process, median of {args.rounds} alternating rounds")
    header = "".join(
        f"{title:>17} {'ratio':>6}" for title in ("import+build ms", "process ms", "process CPU ms")
    )
    print(f"{'variant':<22}{header}")
    for name in names:
        cells = "".join(
            f"{median(name, column):>17.1f} {median(name, column) / median('plain pyramid', column):>5.2f}x"
            for column in range(3)
        )
        print(f"{name:<22}{cells}")
    inner = {name: [sample[0] for sample in samples[name]] for name in names}
    base_inner = statistics.median(inner["plain pyramid"])
    ratio = statistics.median(inner["c2cwsgiutils (ours)"]) / base_inner
    print(f"target: ours <= 1.50x plain (import+build): {'OK' if ratio <= 1.5 else 'MISSED'} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
