"""Shared by the benchmarks: peer virtualenvs under bench/.peers, worker processes, alternating rounds.

Each variant runs in its own long-lived worker process (its own interpreter and virtualenv). The
driver asks each worker in turn for one round of N iterations, so that every variant sees the same
machine noise; it prints medians over the rounds and ratios.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS = BENCH / ".peers"


def peer_python(name: str, requirements: Sequence[str], python: str = sys.executable) -> Path:
    """The interpreter of the peer virtualenv ``bench/.peers/<name>``, created on first use."""
    venv = PEERS / name
    marker = venv / ".installed"
    wanted = "\n".join(requirements)
    if not marker.exists() or marker.read_text() != wanted:
        print(f"# installing peer {name}: {' '.join(requirements)}", file=sys.stderr, flush=True)
        subprocess.run([python, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [
                str(venv / "bin/python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *requirements,
            ],
            check=True,
        )
        marker.write_text(wanted)
    return venv / "bin/python"


class Worker:
    """One variant in its own process, answering ``N`` with the seconds N iterations took and the
    machine's speed around them (:func:`machine_speed`, measured in the worker)."""

    def __init__(self, name: str, python: Path | str, script: Path, variant: str) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [str(python), str(script), "--worker", variant],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
        )
        line = self._read()
        if line != "ready":
            raise RuntimeError(f"worker {name} did not start: {line!r}")

    def _read(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.name} exited with {self.process.wait()}")
        return line.strip()

    def run(self, iterations: int) -> tuple[float, float]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{iterations}\n")
        self.process.stdin.flush()
        seconds, speed = self._read().split()
        return float(seconds), float(speed)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def serve(run: Callable[[int], None]) -> None:
    """Worker side: announce readiness, then time ``run(N)`` for each ``N`` read on stdin (and
    measure the machine's speed around it)."""
    print("ready", flush=True)
    for line in sys.stdin:
        iterations = int(line)
        elapsed, speed = bracketed(lambda count=iterations: _seconds(run, count))
        print(elapsed, speed, flush=True)


def _seconds(run: Callable[[int], None], iterations: int) -> float:
    start = time.perf_counter()
    run(iterations)
    return time.perf_counter() - start


def compare(
    workers: Sequence[Worker], iterations: int, rounds: int, unit: str, per_second: bool
) -> dict[str, float]:
    """Alternate rounds over the workers; print and return the median time per iteration (µs).

    Each is also printed at the machine's full speed (see :func:`at_full_speed`).
    """
    for worker in workers:
        worker.run(max(iterations // 5, 1))  # warm-up
    samples: dict[str, list[float]] = {worker.name: [] for worker in workers}
    speeds: dict[str, list[float]] = {worker.name: [] for worker in workers}
    for round_number in range(rounds):
        order = workers if round_number % 2 == 0 else list(reversed(workers))
        for worker in order:
            seconds, speed = worker.run(iterations)
            samples[worker.name].append(seconds / iterations * 1e6)
            speeds[worker.name].append(speed)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    fastest = min(min(values) for values in speeds.values())
    for name, values in samples.items():
        spread = f"min {min(values):.2f} max {max(values):.2f}"
        rate = f"  {1e6 / medians[name]:>10,.0f} {unit}/s" if per_second else ""
        full = at_full_speed(values, speeds[name], fastest)
        print(
            f"{name:<28} {medians[name]:>9.2f} µs/{unit}{rate}   ({spread}, {rounds} rounds;"
            f" at full speed {full:.2f} µs/{unit})"
        )
    return medians


def compare_variants(
    script: Path,
    variants: list[tuple[str, str]],
    original: Sequence[str] | None,
    title: str,
    iterations: int,
    rounds: int,
    unit: str,
) -> dict[str, float]:
    """Start one worker of ``script`` per ``(name, variant)``, plus the original toolkit's when
    ``original`` (its requirements) is given, print ``title`` and compare them (see :func:`compare`)."""
    specs = [(name, sys.executable, variant) for name, variant in variants]
    if original is not None:
        specs.append(("original 6.1.10", str(peer_python("original", original)), "original"))
    workers = [Worker(name, python, script, variant) for name, python, variant in specs]
    try:
        print(title)
        return compare(workers, iterations, rounds, unit, per_second=True)
    finally:
        for worker in workers:
            worker.close()


def _calibration_call(a: int, b: str) -> dict[str, object]:
    return {"a": a, "b": b}


def machine_speed(iterations: int = 20_000) -> float:
    """CPU µs of one fixed piece of Python (a call building a small dict): the machine's speed now.

    This machine runs in phases, each lasting seconds, two to four times slower than its fastest,
    and every measurement moves with them. A benchmark brackets each measurement with this one:
    ``value * fastest / speed`` is what the value would have been at the fastest speed seen in the
    run (see :func:`at_full_speed`).
    """
    call = _calibration_call
    start = time.process_time()
    for index in range(iterations):
        call(index, "x")
    return (time.process_time() - start) / iterations * 1e6


def bracketed(measure: Callable[[], T]) -> tuple[T, float]:
    """``measure()``'s result, and the machine's speed around it (the mean of one
    :func:`machine_speed` just before and one just after)."""
    before = machine_speed()
    result = measure()
    return result, (before + machine_speed()) / 2


def at_full_speed(values: Sequence[float], speeds: Sequence[float], fastest: float) -> float:
    """The median of ``values``, each scaled to the fastest ``machine_speed`` of the run."""
    return statistics.median(value * fastest / speed for value, speed in zip(values, speeds, strict=True))


def reduce_instructions(argv: Sequence[str]) -> int:
    """CPU instructions that the command ``argv`` runs inside C-level ``functools.reduce()`` calls.

    Counted by callgrind (``--toggle-collect=functools_reduce``): a benchmark wraps exactly what it
    measures in ``functools.reduce``, so the interpreter's start-up and set-up are not counted.
    ``PYTHONHASHSEED=0`` gives the same dict layouts in every run.
    """
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            "--collect-atstart=no",
            "--toggle-collect=functools_reduce",
            *argv,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    for line in result.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1])
    raise RuntimeError(result.stderr[-2000:])
