"""Run every bench/bench_*.py (or the ones named on the command line) with this interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    names = sys.argv[1:]
    scripts = [HERE / name for name in names] if names else sorted(HERE.glob("bench_*.py"))
    failed = 0
    for script in scripts:
        print(f"==== {script.name}", flush=True)
        failed += subprocess.call([sys.executable, str(script)], cwd=HERE.parent) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
