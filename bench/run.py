"""Run every bench/bench_*.py (or the ones named on the command line) with this interpreter.

.venv/bin/python bench/run.py [bench_collector.py ...] [-- extra arguments for each script]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        index = argv.index("--")
        argv, extra = argv[:index], argv[index + 1 :]
    scripts = [HERE / name for name in argv] if argv else sorted(HERE.glob("bench_*.py"))
    failed = 0
    for script in scripts:
        print(f"\n# {script.name}", flush=True)
        failed += subprocess.run([sys.executable, str(script), *extra], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
