"""Run every bench/bench_*.py (or only those named) with this interpreter, one after the other.

Usage: python bench/run.py [bench_handler_emit ...] (``make bench BENCH_ARGS=...``)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    names = sys.argv[1:]
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        wanted = {name.removesuffix(".py") for name in names}
        scripts = [script for script in scripts if script.stem in wanted]
        missing = wanted - {script.stem for script in scripts}
        if missing:
            print(f"unknown benchmark(s): {', '.join(sorted(missing))}", file=sys.stderr)
            return 2
    status = 0
    for script in scripts:
        print(f"== {script.stem}", flush=True)
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, check=False)
        status = status or result.returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
