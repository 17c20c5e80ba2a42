"""Reproductions of issue #17's spool faults, printing counts (run before and after a change).

``python bench/spool_repro.py big|readonly|diskfull|samepid|bound|planted|retry_after``: each case
logs numbered records through a ``CollectorHandler`` in this process or in child processes, against
the stand-in collector of ``tests/logging/collector_server.py``, and prints what was logged, stored,
missing and duplicated. ``readonly``, ``diskfull``, ``samepid`` and ``planted`` need root (tmpfs
mounts, PID namespaces, ``chown``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from c2cwsgiutils.logging.collector_handler import CollectorHandler  # noqa: E402
from tests.helpers import free_port  # noqa: E402
from tests.logging.collector_server import CollectorServer  # noqa: E402

OPTIONS = {"service": "repro", "batch_age": 0.05, "retry_min": 0.05, "retry_max": 0.2, "flush_timeout": 1}


def handler_logger(url: str, spool: str, **kwargs: object) -> tuple[CollectorHandler, logging.Logger]:
    handler = CollectorHandler(url=url, spool_dir=spool, **{**OPTIONS, **kwargs})  # type: ignore[arg-type]
    logger = logging.getLogger(f"repro.{os.urandom(4).hex()}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return handler, logger


def settle(count: Callable[[], int], seconds: float) -> int:
    """The value of ``count`` once it stopped changing for 1 s (``seconds`` at most)."""
    deadline = time.monotonic() + seconds
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        value = count()
        if value != last:
            last, since = value, time.monotonic()
        elif time.monotonic() - since > 1.0:
            break
        time.sleep(0.05)
    return last


def segments(spool: str) -> list[str]:
    with contextlib.suppress(OSError):
        return sorted(n for n in os.listdir(spool) if n.endswith(".ndjson"))
    return []


@contextlib.contextmanager
def tmpfs(size: str) -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="repro-tmpfs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", path], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=False)
        os.rmdir(path)


def immutable(spool: str, on: bool) -> None:
    """``chattr +i`` the directory and its files: nothing can be created, written or deleted there."""
    names = [os.path.join(spool, n) for n in os.listdir(spool)]
    subprocess.run(["chattr", "+i" if on else "-i", spool, *names], check=True)


def report(name: str, logged: int, server: CollectorServer, extra: str = "") -> None:
    messages = server.messages()
    stored = len(set(messages))
    print(
        f"{name}: logged {logged}, stored {stored}, missing {logged - stored}, "
        f"duplicate sends {server.duplicates}, duplicated in store {len(messages) - stored}{extra}"
    )


def case_big() -> None:
    spool = tempfile.mkdtemp(prefix="repro-big-")
    server = CollectorServer(free_port())
    handler, log = handler_logger(server.url, spool)
    log.info("big", extra={"blob": "x" * 1_500_000})
    for i in range(5000):
        log.info("r %d", i)
    handler.flush()
    handler.close()
    server.start()
    handler, _ = handler_logger(server.url, spool)
    settle(lambda: len(server.records), 20)
    handler.close()
    left = sum(os.path.getsize(os.path.join(spool, n)) for n in segments(spool))
    report("1.5 MB record then 5000 (first start)", 5001, server, f", spool left {left} bytes")
    handler, _ = handler_logger(server.url, spool)
    settle(lambda: server.duplicates + len(server.records), 10)
    handler.close()
    report("... after a second start", 5001, server)
    server.stop()


def case_readonly() -> None:
    with tmpfs("20m") as spool:
        server = CollectorServer(free_port())
        handler, log = handler_logger(server.url, spool)
        for i in range(2000):
            log.info("old %d", i)
        handler.flush()
        immutable(spool, True)
        server.start()
        for i in range(500):
            log.info("new %d", i)
            time.sleep(0.002)
        started = time.monotonic()
        settle(lambda: len(server.records) + server.duplicates // 1000, 10)
        time.sleep(max(0.0, 5 - (time.monotonic() - started)))
        stats = handler.stats()
        immutable(spool, False)
        handler.close()
        posts = len(server.statuses)
        report("immutable spool dir (2000 spooled, 500 new)", 2500, server, f", POSTs {posts}, stats {stats}")
        server.stop()


def case_diskfull() -> None:
    with tmpfs("2m") as spool:
        server = CollectorServer(free_port())
        handler, log = handler_logger(server.url, spool, report_interval=0.5)
        count = 30000
        for i in range(count):
            log.info("full %d %s", i, "y" * 100)
        handler.flush()
        server.start()
        for i in range(1000):
            log.info("after %d", i)
        settle(lambda: len(server.records), 20)
        stats = handler.stats()
        left = segments(spool)
        handler.close()
        missing = count + 1000 - len(server.records)
        report(
            "2 MB tmpfs filled",
            count + 1000,
            server,
            f", dropped counter {stats['dropped']} (error {stats['dropped'] - missing}), "
            f"segments left {len(left)}",
        )
        server.stop()


CHILD = """
import logging, sys, time
from c2cwsgiutils.logging.collector_handler import CollectorHandler
url, spool, count, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
max_bytes = int(sys.argv[5]) if len(sys.argv) > 5 else None
h = CollectorHandler(url=url, spool_dir=spool, service="child", batch_age=0.05, retry_min=0.05,
                     retry_max=0.2, flush_timeout=1, spool_max_bytes=max_bytes)
log = logging.getLogger("child"); log.addHandler(h); log.setLevel(logging.INFO); log.propagate = False
for i in range(count):
    log.info("%s%d", prefix, i)
    if i % 100 == 99:
        time.sleep(0.05)
time.sleep(float(sys.argv[6]) if len(sys.argv) > 6 else 0)
print(h.stats(), flush=True)
"""


def case_samepid() -> None:
    spool = tempfile.mkdtemp(prefix="repro-samepid-")
    server = CollectorServer(free_port())
    command = ["unshare", "-p", "-f", sys.executable, "-c", CHILD, server.url, spool, "3000"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [subprocess.Popen([*command, p, "0", "4"], env=env, stdout=subprocess.PIPE) for p in "ab"]
    time.sleep(1.0)
    server.start()
    for child in children:
        child.wait(60)
    handler, _ = handler_logger(server.url, spool)
    settle(lambda: len(server.records) + server.duplicates, 10)
    handler.close()
    report("two PID-1 writers on one spool", 6000, server)
    server.stop()


def case_bound() -> None:
    spool = tempfile.mkdtemp(prefix="repro-bound-")
    url = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "-c", CHILD, url, spool, "20000"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [subprocess.Popen([*command, p, "300000"], env=env, stdout=subprocess.PIPE) for p in "abc"]
    for child in children:
        child.wait(120)
    size = sum(os.path.getsize(os.path.join(spool, n)) for n in segments(spool))
    print(f"3 processes, bound 300000 bytes: spool directory {size} bytes ({size / 300000:.2f}x)")


def case_planted() -> None:
    spool = tempfile.mkdtemp(prefix="repro-planted-")
    planted = Path(spool) / f"{time.time_ns():020d}-99999.ndjson"
    key = "e" * 32
    planted.write_text(f'{{"msg":"planted","uuid":"{key}","c2c_uuid":"{key}"}}\n')
    os.chown(planted, 65534, 65534)
    server = CollectorServer(free_port()).start()
    handler, _ = handler_logger(server.url, spool)
    settle(lambda: len(server.records), 5)
    handler.close()
    print(f"planted segment (owner nobody): sent {server.messages().count('planted')} time(s)")
    server.stop()


def case_retry_after() -> None:
    spool = tempfile.mkdtemp(prefix="repro-retry-")
    server = CollectorServer(free_port()).start()
    server.status = 503
    server.retry_after = 2  # type: ignore[attr-defined]
    handler, log = handler_logger(server.url, spool, retry_min=0.05, retry_max=10)
    for i in range(200):
        log.info("r %d", i)
    time.sleep(1.9)
    posts = len(server.statuses)
    server.status = 0
    settle(lambda: len(server.records), 15)
    handler.close()
    report("503 Retry-After: 2", 200, server, f", POSTs in the first 1.9 s: {posts}")
    server.stop()


if __name__ == "__main__":
    for name in sys.argv[1:]:
        globals()[f"case_{name}"]()
