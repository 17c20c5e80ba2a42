"""CPU cost of one NDJSON batch in the collector, in process: parsing, then the SQLite insert.

    .venv/bin/python bench/bench_batch_ingest.py [--batches 5] [--stored 20000] [--uuid4]

The server's own work per record of ``bench_collector.py``'s batches, without HTTP and without
the machine's noise: the CPU instructions of ``ingest.parse_ndjson`` and of
``SQLiteStorage.insert`` per record, counted by callgrind (the loop alone: start-up, the bodies
and the ``--stored`` records already in the database are not counted), and, for scale, the
user+system CPU time per record of the same loop outside valgrind (which moves with the load of
the machine, and counts the background WAL checkpoints when they run in this thread's time).
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import _harness  # noqa: E402 - after the path set-up


def _bodies(count: int, first: int) -> list[bytes]:
    import bench_collector

    return [
        (
            "\n".join(
                json.dumps(bench_collector.wire_record(first + b * 1000 + i, time.time()))
                for i in range(1000)
            )
            + "\n"
        ).encode()
        for b in range(count)
    ]


def _loop(args: argparse.Namespace, part: str) -> float:
    """Runs the measured loop; returns user+system CPU seconds of it."""
    import bench_collector

    from c2cwsgiutils.collector.intake import ingest
    from c2cwsgiutils.collector.storage.backends import migrate, open_storage

    bench_collector.UUID4 = args.uuid4
    directory = tempfile.mkdtemp()
    try:
        storage = open_storage(f"sqlite:///{directory}/bench.sqlite")
        migrate(storage)
        for body in _bodies(args.stored // 1000, 10_000_000):
            storage.insert(ingest.parse_ndjson(body, 10_000).rows)
        bodies = _bodies(args.batches, 0)
        parsed = [ingest.parse_ndjson(body, 10_000).rows for body in bodies] if part == "insert" else []

        def parse(_acc: object, body: bytes) -> object:
            return ingest.parse_ndjson(body, 10_000)

        def insert(_acc: object, rows: list[tuple[object, ...]]) -> object:
            return storage.insert(rows)

        usage = resource.getrusage(resource.RUSAGE_SELF)
        # Only what runs inside this C-level reduce() is counted (--toggle-collect below).
        if part == "parse":
            functools.reduce(parse, bodies, None)
        else:
            functools.reduce(insert, parsed, None)
        after = resource.getrusage(resource.RUSAGE_SELF)
        storage.dispose()
        return after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _instructions(args: argparse.Namespace, part: str) -> float:
    argv = [
        sys.executable,
        __file__,
        "--inner",
        part,
        "--batches",
        str(args.batches),
        "--stored",
        str(args.stored),
    ]
    counted = _harness.reduce_instructions([*argv, *(["--uuid4"] if args.uuid4 else [])])
    return counted / (args.batches * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=5, help="measured batches of 1000 records")
    parser.add_argument("--stored", type=int, default=20_000, help="records in the database before")
    parser.add_argument("--uuid4", action="store_true", help="a random uuid per record")
    parser.add_argument("--inner", choices=("parse", "insert"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        _loop(args, args.inner)
        return
    records = args.batches * 1000
    print(f"# NDJSON batches of 1000, {args.stored:,} records stored before, {records:,} measured")
    print("| part | CPU instructions per record | user+sys µs per record |\n| --- | --- | --- |")
    for part in ("parse", "insert"):
        cpu = min(_loop(args, part) for _ in range(3)) / records * 1e6
        counted = _instructions(args, part) if shutil.which("valgrind") else float("nan")
        print(f"| {part} | {counted:,.0f} | {cpu:.1f} |", flush=True)


if __name__ == "__main__":
    main()
