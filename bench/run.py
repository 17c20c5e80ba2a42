"""Run every benchmark (bench/bench_*.py), or the ones named: ``python bench/run.py [startup ...]``.

Arguments after ``--`` go to every benchmark run (``python bench/run.py startup -- --rounds 5``).

Each benchmark runs with this interpreter, one after the other; the exit code is non-zero when
one of them failed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def _select(names: list[str]) -> list[Path]:
    if not names:
        return sorted(BENCH.glob("bench_*.py"))
    selected = []
    for name in names:
        stem = Path(name).stem
        path = BENCH / (stem if stem.startswith("bench_") else f"bench_{stem}")
        path = path.with_suffix(".py")
        if not path.is_file():
            raise SystemExit(f"bench/run.py: no benchmark {name} ({path} does not exist)")
        selected.append(path)
    return selected


def main() -> int:
    args = sys.argv[1:]
    names, extra = (args[: args.index("--")], args[args.index("--") + 1 :]) if "--" in args else (args, [])
    failed = []
    for script in _select(names):
        print(f"=== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script), *extra], check=False).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
