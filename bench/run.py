"""Run every bench/bench_*.py (or the ones named on the command line) with this interpreter.

Usage: ``python bench/run.py [bench_request.py ...] [-- extra arguments for each script]``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main() -> int:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    scripts = [BENCH / Path(name).name for name in argv] or sorted(BENCH.glob("bench_*.py"))
    status = 0
    for script in scripts:
        print(f"## {script.name}", flush=True)
        status |= subprocess.run([sys.executable, str(script), *extra], check=False).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
