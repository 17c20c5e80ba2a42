"""Benchmark of the log collector, side by side with Chronologer 0.4.7 (one run, alternating).

    .venv/bin/python bench/bench_collector.py [--records 1000000] [--reps 3] [--no-peer] [--no-pg]

Measures, over real HTTP with keep-alive connections:
- ingestion of NDJSON batches of 1000 records (SQLite, PostgreSQL; Chronologer on SQLite),
- single-record ingestion (one HTTPHandler form per POST, keep-alive; and the stdlib
  HTTPHandler itself, which opens a connection per record), on the collector's ingest port
  (``--ingest-port``: one process, one thread, POST only) and on its main port (8 threads),
- query latency with ``--records`` stored records (bulk-loaded directly into both databases):
  count, filtered count, hourly timeline, filtered range of 100, a JSON-field query and the
  request view (Chronologer: the same request_id looked up inside its JSON column).

Chronologer needs Python 3.9; the script creates its virtualenv under bench/.peers/chronologer
on first use (``python3.9 -m venv``, ``pip install "chronologer[server]==0.4.7" pymysql`` and a
MySQLdb shim, see /work/shared/PEERS.md). Medians of ``--reps`` alternating repetitions.
"""

from __future__ import annotations

import argparse
import base64
import glob
import json
import logging
import logging.handlers
import multiprocessing
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / ".peers"
CHRONOLOGER = PEERS / "chronologer"
DATA = PEERS / "data"
BATCH = 1000
SINGLE_CLIENTS = 6  # concurrent senders (a fleet of services, each with its HTTPHandler)
START = 1_763_000_000.0
SPAN = 30 * 86400.0
LOGGERS = ("app.views", "app.db", "celery.worker", "sqlalchemy.engine", "app.auth")
LEVELS = (10, 20, 20, 20, 30, 40)
PG_ADMIN = os.environ.get("C2C_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _processes import group_cpu_seconds  # noqa: E402

from tests.helpers import free_port, wait_port  # noqa: E402

# ---- processes -----------------------------------------------------------------------------


@contextmanager
def running(argv: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[int]:
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_port(port, 60, process=process)
            time.sleep(0.5)
            yield process.pid
        finally:
            os.killpg(process.pid, 15)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()


def collector(db_url: str, port: int, log: Path, ingest_port: int = 0) -> Any:
    argv = [
        sys.executable,
        "-m",
        "c2cwsgiutils.collector.cli",
        "serve",
        "--port",
        str(port),
        "--db-url",
        db_url,
        *(["--ingest-port", str(ingest_port)] if ingest_port else []),
    ]
    # The server's default processes (one with SQLite, two with PostgreSQL): what users run.
    env = {"PYTHONPATH": str(ROOT), "C2C_COLLECTOR_TOKENS": "logger:admin:secret"}
    return running(argv, env, port, log)


def chronologer_python() -> Path:
    python = CHRONOLOGER / "bin" / "python"
    if python.exists():
        return python
    # pyenv's interpreters first: its python3.9 shim fails when 3.9 is not the selected version.
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [*sorted(glob.glob(f"{pyenv}/versions/3.9*/bin/python3.9")), shutil.which("python3.9")]
    base = next((c for c in candidates if c), None)
    if base is None:
        raise RuntimeError("Chronologer needs a python3.9 interpreter (pyenv install 3.9)")
    subprocess.run([base, "-m", "venv", str(CHRONOLOGER)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "chronologer[server]==0.4.7", "pymysql"], check=True
    )
    site = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Its start-up imports the MySQL backend even for SQLite: PyMySQL stands in for MySQLdb.
    shim = Path(site) / "MySQLdb"
    shim.mkdir(exist_ok=True)
    (shim / "__init__.py").write_text(
        "from pymysql import *  # noqa\nfrom pymysql import install_as_MySQLdb\n"
    )
    return python


def chronologer(path: Path, port: int, log: Path) -> Any:
    env = {
        "CHRONOLOGER_STORAGE_DSN": f"sqlite:///{path}",
        "CHRONOLOGER_HOST": "127.0.0.1",
        "CHRONOLOGER_PORT": str(port),
        "CHRONOLOGER_ROLES": "basic-reader query-reader writer",
        "PYTHONPATH": "",
    }
    argv = [str(chronologer_python()), "-m", "chronologer", "-e", "production", "serve", "-m"]
    return running(argv, env, port, log)


# ---- a minimal keep-alive HTTP client (cheap, so the server is what is measured) -------------


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def request(self, raw: bytes, head: bool = False) -> tuple[int, bytes, bytes]:
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        header, _, rest = self.buffer.partition(b"\r\n\r\n")
        status = int(header[9:12])
        length = 0
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if head:
            length = 0
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            rest += chunk
        self.buffer = rest[length:]
        return status, header, rest[:length]

    def close(self) -> None:
        self.sock.close()


AUTH = {
    "collector": "Basic " + base64.b64encode(b"logger:secret").decode(),
    "chronologer": "Basic " + base64.b64encode(b"logger:").decode(),
}


def raw_request(method: str, path: str, auth: str, body: bytes = b"", content_type: str = "") -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: {auth}",
        f"Content-Length: {len(body)}",
    ]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# ---- records ---------------------------------------------------------------------------------


# uuids as the CollectorHandler makes them: a random prefix per sending process and a counter,
# so that each sender inserts at one place of the uuid index (--uuid4: a random uuid per record,
# which dirties one page of that index per record).
UUID_PREFIX = os.urandom(10).hex()
UUID4 = False


def record_uuid(i: int) -> str:
    return uuid.uuid4().hex if UUID4 else f"{UUID_PREFIX}{i:012x}"


def wire_record(i: int, created: float) -> dict[str, Any]:
    return {
        "c2c_uuid": record_uuid(i),
        "timestamp": "",
        "created": created,
        "level": 6,
        "level_name": "INFO",
        "levelno": LEVELS[i % len(LEVELS)],
        "msg": f"message number {i} with some words",
        "logger_name": LOGGERS[i % len(LOGGERS)],
        "file": "/app/views.py",
        "line": 12,
        "function": "view",
        "pid": 42,
        "process_name": "MainProcess",
        "thread_name": "MainThread",
        "host": "web-1",
        "service": "demo",
        "request_id": f"{i // 10:032x}",
        "trace_id": f"{i // 10:032x}",
        "span_id": f"{i // 2:016x}",
        "parent_span_id": f"{i // 10:016x}",
        "kind": "web",
        "task_id": "",
        "user_id": i % 1000,
    }


def logrecord_dict(i: int, created: float) -> dict[str, Any]:
    """What HTTPHandler sends (LogRecord.__dict__), as Chronologer's NDJSON and form input."""
    logger = logging.getLogger(LOGGERS[i % len(LOGGERS)])
    extra = {"request_id": f"{i // 10:032x}", "user_id": i % 1000}
    record = logger.makeRecord(
        logger.name, LEVELS[i % len(LEVELS)], "/app/views.py", 12, "message %s", (i,), None, "view", extra
    )
    record.created = created
    result = dict(record.__dict__)
    result["args"] = str(result["args"])
    return result


def form_body(i: int) -> bytes:
    handler = logging.handlers.HTTPHandler("127.0.0.1:1", "/api/v1/record", "POST")
    logger = logging.getLogger("bench.single")
    record = logger.makeRecord(
        logger.name, logging.WARNING, "/app/views.py", 12, "single %s", (i,), None, "view", {"user_id": i}
    )
    return urllib.parse.urlencode(handler.mapLogRecord(record)).encode()


# ---- load generators (run in child processes) ------------------------------------------------


def _batch_worker(args: tuple[str, int, int, int, Any, Any]) -> int:
    kind, port, batches, seed, start_event, uuid4 = args
    global UUID_PREFIX, UUID4
    UUID_PREFIX, UUID4 = os.urandom(10).hex(), uuid4  # each client process is one sender
    bodies = []
    for b in range(batches):
        base = seed * 10_000_000 + b * BATCH
        if kind == "collector":
            lines = [json.dumps(wire_record(base + i, time.time())) for i in range(BATCH)]
        else:
            lines = [json.dumps(logrecord_dict(base + i, time.time())) for i in range(BATCH)]
        body = ("\n".join(lines) + "\n").encode()
        bodies.append(raw_request("POST", "/api/v1/record", AUTH[kind], body, "application/x-ndjson"))
    client = Client(port)
    start_event.wait()
    stored = 0
    for raw in bodies:
        status, _, _ = client.request(raw)
        if status not in (200, 201):
            raise RuntimeError(f"{kind}: status {status}")
        stored += BATCH
    client.close()
    return stored


def _single_worker(args: tuple[str, int, float, int, Any, Any]) -> int:
    kind, port, duration, seed, start_event, _ = args
    raws = [
        raw_request(
            "POST",
            "/api/v1/record",
            AUTH[kind],
            form_body(seed * 1_000_000 + i),
            "application/x-www-form-urlencoded",
        )
        for i in range(200)
    ]
    client = Client(port)
    start_event.wait()
    deadline = time.perf_counter() + duration
    sent = 0
    while time.perf_counter() < deadline:
        status, _, _ = client.request(raws[sent % len(raws)])
        if status != 201:
            raise RuntimeError(f"{kind}: status {status}")
        sent += 1
    client.close()
    return sent


def parallel(
    worker: Callable[[Any], int], kind: str, port: int, amount: float, clients: int, pgid: int
) -> tuple[float, float]:
    """(records per second, records per server CPU second) of ``clients`` processes running ``worker``."""
    manager = multiprocessing.Manager()
    event = manager.Event()
    with multiprocessing.Pool(clients) as pool:
        result = pool.map_async(worker, [(kind, port, amount, seed, event, UUID4) for seed in range(clients)])
        time.sleep(0.5 + (amount * 0.05 if worker is _batch_worker else 0.3))  # let them build their bodies
        cpu = group_cpu_seconds(pgid)
        begin = time.perf_counter()
        event.set()
        total = sum(result.get(600))
        elapsed = time.perf_counter() - begin
        cpu = group_cpu_seconds(pgid) - cpu
    manager.shutdown()
    return total / elapsed, total / max(cpu, 1e-3)


def httphandler_rate(port: int, duration: float) -> float:
    handler = logging.handlers.HTTPHandler(
        f"127.0.0.1:{port}", "/api/v1/record", "POST", credentials=("logger", "secret")
    )
    logger = logging.getLogger("bench.httphandler")
    logger.propagate = False
    logger.addHandler(handler)
    sent = 0
    begin = time.perf_counter()
    while time.perf_counter() - begin < duration:
        logger.warning("stdlib handler %s", sent)
        sent += 1
    logger.removeHandler(handler)
    return sent / (time.perf_counter() - begin)


# ---- bulk loads ----------------------------------------------------------------------------


def bulk_load_collector(db_url: str, records: int) -> None:
    from c2cwsgiutils.collector.intake import ingest
    from c2cwsgiutils.collector.query.filters import build_filter
    from c2cwsgiutils.collector.storage.backends import migrate, open_storage

    storage = open_storage(db_url)
    migrate(storage)
    if storage.dialect == "postgresql":  # the ingestion runs left records there
        with storage.engine.begin() as connection:
            connection.exec_driver_sql("TRUNCATE c2c_log_record RESTART IDENTITY")
    existing = storage.count(build_filter({}, storage.dialect))
    step = SPAN / records
    now = time.time()
    for begin in range(existing, records, 10_000):
        rows = [
            ingest.record_to_row(wire_record(i, START + i * step), now)
            for i in range(begin, min(records, begin + 10_000))
        ]
        storage.insert(rows)
    if storage.dialect == "postgresql":
        with storage.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE c2c_log_record")
            connection.commit()
    # No ANALYZE on SQLite: the collector never runs it, so the queries are measured with the
    # plans a production database gets (PostgreSQL's autovacuum analyses on its own).
    storage.dispose()


def bulk_load_chronologer(path: Path, records: int) -> None:
    env = {**os.environ, "CHRONOLOGER_STORAGE_DSN": f"sqlite:///{path}", "PYTHONPATH": ""}
    subprocess.run(
        [str(chronologer_python()), "-m", "chronologer", "-e", "production", "migrate"],
        env=env,
        check=True,
        capture_output=True,
    )
    connection = sqlite3.connect(path, isolation_level=None)
    existing = connection.execute("SELECT count(*) FROM record").fetchone()[0]
    step = SPAN / records
    connection.execute("BEGIN")
    for i in range(existing, records):
        created = START + i * step
        meta = {
            "process": 42,
            "processName": "MainProcess",
            "threadName": "MainThread",
            "lineno": 12,
            "funcName": "view",
            "pathname": "/app/views.py",
        }
        data = {"request_id": f"{i // 10:032x}", "user_id": i % 1000}
        connection.execute(
            "INSERT INTO record (name, ts, level, message, logrec) VALUES (?, ?, ?, ?, ?)",
            (
                LOGGERS[i % len(LOGGERS)],
                int(created * 1e6),
                LEVELS[i % len(LEVELS)],
                f"message number {i} with some words",
                json.dumps({"data": data, "meta": meta}),
            ),
        )
    connection.execute("COMMIT")
    connection.execute("ANALYZE")
    connection.close()


# ---- measurements --------------------------------------------------------------------------


def latency(port: int, raw: bytes, head: bool, reps: int = 7) -> float:
    client = Client(port)
    client.request(raw, head)  # warm-up
    samples = []
    for _ in range(reps):
        begin = time.perf_counter()
        status, _, _ = client.request(raw, head)
        samples.append(time.perf_counter() - begin)
        if status != 200:
            raise RuntimeError(f"status {status} for {raw[:120]!r}")
    client.close()
    return statistics.median(samples) * 1000


def query_suite(records: int) -> dict[str, tuple[tuple[str, str, bool], tuple[str, str, bool]]]:
    rid = f"{(records // 2) // 10:032x}"
    q = urllib.parse.quote
    return {
        "count, no filter": (("HEAD", "/api/v1/record", True), ("HEAD", "/api/v1/record", True)),
        "count, level >= WARNING": (
            ("HEAD", "/api/v1/record?level=30", True),
            ("HEAD", "/api/v1/record?level=30", True),
        ),
        "timeline by hour, everything": (
            ("HEAD", "/api/v1/record?group=hour&timezone=UTC", True),
            ("HEAD", "/api/v1/record?group=hour&timezone=UTC", True),
        ),
        "range of 100, level+name filter": (
            ("GET", "/api/v1/record?left=0&right=99&level=30&name=app.", False),
            ("GET", "/api/v1/record?left=0&right=99&level=30&name=app.", False),
        ),
        "JSON field user_id = 42, 100 rows": (
            ("GET", "/api/v1/record?left=0&right=99&query=" + q("data.user_id = 42"), False),
            (
                "GET",
                "/api/v1/record?left=0&right=99&query=" + q("json_extract(logrec, '$.data.user_id') = 42"),
                False,
            ),
        ),
        "request view (one request_id)": (
            ("GET", f"/api/v1/request/{rid}", False),
            (
                "GET",
                "/api/v1/record?left=0&right=99&query="
                + q(f"json_extract(logrec, '$.data.request_id') = '{rid}'"),
                False,
            ),
        ),
    }


def compare(rows: dict[str, list[float]], peer: bool) -> list[tuple[str, float, float | None, str]]:
    """Our rows beside Chronologer's matching row (same suffix), as medians."""
    result: list[tuple[str, float, float | None, str]] = []
    for label, values in rows.items():
        if label.startswith("chronologer"):
            continue
        suffix = " (per server CPU-second)" if label.endswith(" (per server CPU-second)") else ""
        theirs = rows.get("chronologer SQLite" + suffix) if peer and "PostgreSQL" not in label else None
        result.append(
            (label, statistics.median(values), statistics.median(theirs) if theirs else None, "rec/s")
        )
    return result


def show(title: str, rows: list[tuple[str, float, float | None, str]]) -> None:
    print(f"\n## {title}")
    print("| what | collector | chronologer 0.4.7 | ratio |\n| --- | --- | --- | --- |")
    for name, ours, theirs, unit in rows:
        ours_text = f"{ours:,.1f} {unit}"
        theirs_text = "-" if theirs is None else f"{theirs:,.1f} {unit}"
        if name.endswith("(per server CPU-second)"):  # the figure that load on the machine barely moves
            ours_text += f" = {1e6 / ours:,.1f} µs/rec"
            if theirs is not None:
                theirs_text += f" = {1e6 / theirs:,.1f} µs/rec"
        if theirs is None:
            print(f"| {name} | {ours_text} | - | - |")
        else:
            ratio = ours / theirs if unit == "rec/s" else theirs / ours
            print(f"| {name} | {ours_text} | {theirs_text} | {ratio:.1f}x |")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--records", type=int, default=1_000_000, help="stored records for the query latencies"
    )
    parser.add_argument(
        "--pg-records", type=int, default=0, help="stored records for PostgreSQL (default --records)"
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--batches", type=int, default=60, help="NDJSON batches of 1000 per client and repetition"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of the single-record runs")
    parser.add_argument("--no-peer", action="store_true", help="skip Chronologer")
    parser.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    parser.add_argument(
        "--uuid4", action="store_true", help="a random uuid per record (default: the CollectorHandler's)"
    )
    args = parser.parse_args()
    global UUID4
    UUID4 = args.uuid4
    peer = not args.no_peer
    work = DATA / f"run-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    when = time.strftime("%Y-%m-%d %H:%M")
    print(f"# Collector benchmark ({os.cpu_count()} cores, {when}, load average {os.getloadavg()[0]:.1f})")

    pg_url = None
    if not args.no_pg:
        import psycopg2

        name = f"c2c_bench_{os.getpid()}"
        admin = psycopg2.connect(PG_ADMIN)
        admin.autocommit = True
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        pg_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name

    try:
        # Ingestion: fresh databases, the same clients against each server in turn.
        ingest_rows: dict[str, list[float]] = {}
        single_rows: dict[str, list[float]] = {}
        for rep in range(args.reps):
            ingest_port = free_port()
            targets: list[tuple[str, Any, str]] = [
                (
                    "collector SQLite",
                    lambda p, r=rep, i=ingest_port: collector(
                        f"sqlite:///{work}/ingest-{r}.sqlite", p, work / "c.log", i
                    ),
                    "collector",
                )
            ]
            if pg_url:
                targets.append(
                    ("collector PostgreSQL", lambda p: collector(pg_url, p, work / "pg.log"), "collector")
                )
            if peer:
                targets.append(
                    (
                        "chronologer SQLite",
                        lambda p, r=rep: chronologer(work / f"chrono-{r}.sqlite", p, work / "chrono.log"),
                        "chronologer",
                    )
                )
            for label, start, kind in targets:
                port = free_port()
                with start(port) as pgid:
                    ports = [(label, port)]
                    if kind == "collector" and "SQLite" in label:  # the ingest port, then the main one
                        ports = [(label + ", ingest port", ingest_port), (label + ", main port", port)]
                    for batch_label, batch_port in ports:
                        rate, per_cpu = parallel(_batch_worker, kind, batch_port, args.batches, 2, pgid)
                        ingest_rows.setdefault(batch_label, []).append(rate)
                        ingest_rows.setdefault(batch_label + " (per server CPU-second)", []).append(per_cpu)
                    for single_label, single_port in ports if "PostgreSQL" not in label else []:
                        single, per_cpu = parallel(
                            _single_worker, kind, single_port, args.seconds, SINGLE_CLIENTS, pgid
                        )
                        single_rows.setdefault(single_label, []).append(single)
                        single_rows.setdefault(single_label + " (per server CPU-second)", []).append(per_cpu)
                    if kind == "collector" and "SQLite" in label:
                        single_rows.setdefault(
                            "collector ingest port, stdlib HTTPHandler (1 connection/record)", []
                        ).append(httphandler_rate(ingest_port, 2.0))
                batches = ingest_rows[ports[0][0]][-1]
                print(f"rep {rep + 1} {label}: batches {batches:,.0f} rec/s", file=sys.stderr)
        show(
            "Ingestion, NDJSON batches of 1000 over keep-alive, 2 client processes",
            compare(ingest_rows, peer),
        )
        print(
            "(server CPU: the collector's process group; for PostgreSQL the database's own CPU is not in it)"
        )
        show(
            f"Single-record ingestion (one HTTPHandler form per POST), {SINGLE_CLIENTS} keep-alive clients",
            compare(single_rows, peer),
        )

        # Queries with --records stored records.
        DATA.mkdir(parents=True, exist_ok=True)
        ours_db = DATA / f"collector-{args.records}.sqlite"
        theirs_db = DATA / f"chronologer-{args.records}.sqlite"
        begin = time.perf_counter()
        bulk_load_collector(f"sqlite:///{ours_db}", args.records)
        print(
            f"loaded {args.records:,} records into the collector in {time.perf_counter() - begin:.0f}s",
            file=sys.stderr,
        )
        if peer:
            begin = time.perf_counter()
            bulk_load_chronologer(theirs_db, args.records)
            print(
                f"loaded {args.records:,} records into Chronologer in {time.perf_counter() - begin:.0f}s",
                file=sys.stderr,
            )
        suite = query_suite(args.records)
        results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in suite}
        ours_port, theirs_port = free_port(), free_port()
        print(f"load average before the queries: {os.getloadavg()[0]:.1f}", file=sys.stderr)
        with (
            collector(f"sqlite:///{ours_db}", ours_port, work / "cq.log"),
            chronologer(theirs_db, theirs_port, work / "chq.log") if peer else _nothing(),
        ):
            for _ in range(args.reps):
                for name, (ours, theirs) in suite.items():
                    results[name][0].append(
                        latency(ours_port, raw_request(ours[0], ours[1], AUTH["collector"]), ours[2])
                    )
                    if peer:
                        results[name][1].append(
                            latency(
                                theirs_port,
                                raw_request(theirs[0], theirs[1], AUTH["chronologer"]),
                                theirs[2],
                                reps=3,
                            )
                        )
        show(
            f"Query latency with {args.records:,} records (SQLite), median ms",
            [
                (name, statistics.median(o), statistics.median(t) if t else None, "ms")
                for name, (o, t) in results.items()
            ],
        )
        if pg_url:
            pg_records = args.pg_records or args.records
            suite = query_suite(pg_records)
            begin = time.perf_counter()
            bulk_load_collector(pg_url, pg_records)
            print(
                f"loaded {pg_records:,} records into PostgreSQL in {time.perf_counter() - begin:.0f}s",
                file=sys.stderr,
            )
            port = free_port()
            pg_results: dict[str, list[float]] = {name: [] for name in suite}
            with collector(pg_url, port, work / "pgq.log"):
                for _ in range(args.reps):
                    for name, (ours, _theirs) in suite.items():
                        pg_results[name].append(
                            latency(port, raw_request(ours[0], ours[1], AUTH["collector"]), ours[2])
                        )
            show(
                f"Query latency with {pg_records:,} records (PostgreSQL), median ms",
                [(name, statistics.median(values), None, "ms") for name, values in pg_results.items()],
            )
    finally:
        if pg_url:
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


@contextmanager
def _nothing() -> Iterator[None]:
    yield


if __name__ == "__main__":
    sys.exit(main())
