"""Cost of SQL statement tagging per statement on a real PostgreSQL, and of request.dbsession per request.

Run: ``.venv/bin/python bench/bench_sql.py`` (``C2C_TEST_PG_URL`` picks the server, ``BENCH_REPS`` the
repetitions). Every variant runs in each repetition, in alternating order; medians are printed with
the ratio to the untagged engine and the number of ``application_name`` changes sent to the server.

Variants:
- ``off``: no hook;
- ``application_name``: this toolkit (set only when the value changes);
- ``comment``: this toolkit, sqlcommenter comment prepended;
- ``both``: the two;
- ``SET per transaction``: an emulation of the original toolkit's way (one SET at every transaction
  start, whatever the connection already had), for comparison.

When valgrind is installed (``BENCH_CALLGRIND=0`` skips it), the statement loop also runs under
``valgrind --tool=callgrind`` to count the CPU instructions each variant adds per statement (the
loop alone: start-up and warm-up are not counted); unlike times, these counts hardly depend on what
else the machine is doing. They are the figure to trust for the "at most 5 µs per statement"
target; the times around them move with the load of the machine.

The last part runs the original c2cwsgiutils 6.1.10 (``C2C_SQL_REQUEST_ID=1``: a SET in every ORM
session transaction) in its own virtualenv under ``bench/.peers/original`` (created on first run),
alternating with this toolkit's application_name mode on the same ORM loop.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _harness
import psycopg2.extensions
import sqlalchemy
from sqlalchemy import event

from c2cwsgiutils import context
from c2cwsgiutils.sql import tagging

PG_URL = os.environ.get("C2C_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REPS = int(os.environ.get("BENCH_REPS", "7"))
STATEMENTS = int(os.environ.get("BENCH_STATEMENTS", "1000"))
SETS = {"count": 0}


class CountingCursor(psycopg2.extensions.cursor):  # type: ignore[misc]
    def execute(self, query: Any, vars: Any = None) -> Any:
        if isinstance(query, str) and "application_name" in query:
            SETS["count"] += 1
        return super().execute(query, vars)


def _set_per_transaction(conn: Any) -> None:
    cursor = conn.connection.dbapi_connection.cursor()
    cursor.execute("SET application_name = %s", (context.current().request_id,))
    cursor.close()


def make_engine(variant: str) -> sqlalchemy.Engine:
    url = sqlalchemy.make_url(PG_URL).set(drivername="postgresql+psycopg2")
    engine = sqlalchemy.create_engine(url, pool_size=1, connect_args={"cursor_factory": CountingCursor})
    if variant in ("application_name", "comment", "both"):
        tagging.instrument(engine, tagging.TaggingSettings(enabled=True, mode=variant))
    elif variant == "SET per transaction":
        event.listen(engine, "begin", _set_per_transaction)
    return engine


def server_cpu_ns(backend_pid: int | None) -> int:
    """CPU nanoseconds used so far by a PostgreSQL backend process (0 when the server is not local).

    ``/proc/PID/schedstat`` counts in nanoseconds, unlike the 10 ms ticks of ``/proc/PID/stat``.
    """
    if backend_pid is None:
        return 0
    try:
        return int(Path(f"/proc/{backend_pid}/schedstat").read_text().split()[0])
    except OSError:
        return 0


def backend_pid(conn: sqlalchemy.Connection) -> int | None:
    """The PID of the connection's server process when the server runs on this machine."""
    pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    conn.commit()
    return pid if Path(f"/proc/{pid}/schedstat").exists() else None


def run(engine: sqlalchemy.Engine, per_transaction: bool, requests: int) -> tuple[float, float, float]:
    """(wall, client CPU, server CPU) seconds per statement; ``requests`` request IDs share them.

    The client's CPU time (``time.thread_time``) plus the server backend's (from ``/proc``, when
    PostgreSQL runs on this machine) is what tagging adds, apart from round trips, which are
    counted separately; unlike wall time they hardly move when other processes load the machine.
    """
    per_request = STATEMENTS // requests
    wall = cpu = 0.0
    server = 0
    with engine.connect() as conn:
        pid = backend_pid(conn)
        for number in range(requests):
            with context.bind(request_id=f"bench-{time.monotonic_ns()}-{number}", kind="web", route="bench"):
                start, start_cpu, start_server = time.perf_counter(), time.thread_time(), server_cpu_ns(pid)
                for _ in range(per_request):
                    conn.exec_driver_sql("SELECT 1")
                    if per_transaction:
                        conn.commit()
                conn.commit()
                wall += time.perf_counter() - start
                cpu += time.thread_time() - start_cpu
                server += server_cpu_ns(pid) - start_server
    count = per_request * requests
    return wall / count, cpu / count, server / 1e9 / count


def scenario(title: str, variants: list[str], per_transaction: bool, requests: int) -> None:
    engines = {variant: make_engine(variant) for variant in variants}
    for engine in engines.values():  # warm up: connect, first SET, caches
        run(engine, per_transaction, 1)
    walls: dict[str, list[float]] = {variant: [] for variant in variants}
    cpus: dict[str, list[float]] = {variant: [] for variant in variants}
    servers: dict[str, list[float]] = {variant: [] for variant in variants}
    sets: dict[str, int] = dict.fromkeys(variants, 0)
    for rep in range(REPS):
        order = variants if rep % 2 == 0 else list(reversed(variants))
        for variant in order:
            before = SETS["count"]
            wall, cpu, server = run(engines[variant], per_transaction, requests)
            walls[variant].append(wall)
            cpus[variant].append(cpu)
            servers[variant].append(server)
            sets[variant] += SETS["count"] - before
    base_wall, base_cpu = statistics.median(walls["off"]), statistics.median(cpus["off"])
    base_server = statistics.median(servers["off"])
    print(f"\n{title} ({STATEMENTS} statements x {REPS} repetitions, {requests} request IDs)")
    print("CPU: client thread + server backend (medians); added: against 'off'")
    print(
        f"{'variant':<22}{'wall us':>9}{'ratio':>7}{'client us':>10}{'server us':>10}"
        f"{'added client':>13}{'added server':>13}{'added total':>12}{'SETs/rep':>10}"
    )
    for variant in variants:
        wall, cpu = statistics.median(walls[variant]), statistics.median(cpus[variant])
        server = statistics.median(servers[variant])
        added_cpu, added_server = (cpu - base_cpu) * 1e6, (server - base_server) * 1e6
        print(
            f"{variant:<22}{wall * 1e6:>9.1f}{wall / base_wall:>7.2f}{cpu * 1e6:>10.2f}{server * 1e6:>10.2f}"
            f"{added_cpu:>+13.2f}{added_server:>+13.2f}{added_cpu + added_server:>+12.2f}"
            f"{sets[variant] / REPS:>10.0f}"
        )
    for engine in engines.values():
        engine.dispose()


def hook_cost() -> None:
    """CPU cost of the hooks alone (no round trip), per call, median of REPS runs of 100k calls."""
    engine = make_engine("off")
    loops = 100_000
    print(f"\nHook cost alone, CPU only ({loops} calls x {REPS} repetitions)")
    with engine.connect() as conn, context.bind(request_id="a" * 32, kind="web", route="hello"):
        ctx = conn.exec_driver_sql("SELECT 1").context
        tagging.ensure_application_name(ctx)
        statement = "SELECT 1 FROM t WHERE x = %(x)s"
        cases: dict[str, Callable[[], Any]] = {
            "application_name": lambda: tagging.ensure_application_name(ctx),
            "comment": lambda: tagging.comment_statement(statement, None, True, ctx, "start"),
            "empty call": lambda: None,
        }
        results = {}
        for name, call in cases.items():
            runs = []
            for _ in range(REPS):
                start = time.thread_time()
                for _ in range(loops):
                    call()
                runs.append((time.thread_time() - start) / loops)
            results[name] = statistics.median(runs)
    base = results["empty call"]
    for name in ("application_name", "comment"):
        print(f"{name:<22}{(results[name] - base) * 1e6:>10.3f} us per statement (net of the call itself)")
    engine.dispose()


def dbsession_cost() -> None:
    """Per-request cost of request.dbsession's request property, promoted vs Pyramid's per-request class."""
    from pyramid.config import Configurator
    from webob import Request

    from c2cwsgiutils import db

    def hello(request: Any) -> Any:
        return request.response

    def build(variant: str) -> Any:
        config = Configurator(settings={"sqlalchemy.url": PG_URL})
        if variant != "plain pyramid":
            db.setup_session(config, "sqlalchemy")
        config.add_route("hello", "/hello")
        config.add_view(hello, route_name="hello")
        return config.make_wsgi_app()

    original = db._promote_request_properties
    apps = {"plain pyramid": build("plain pyramid"), "setup_session": build("setup_session")}
    db._promote_request_properties = lambda registry, names: None  # type: ignore[assignment]
    apps["setup_session, reify per request"] = build("reify")
    db._promote_request_properties = original
    environ = Request.blank("/hello").environ
    loops = 5000

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        pass

    samples: dict[str, list[float]] = {name: [] for name in apps}
    for rep in range(REPS):
        for name in apps if rep % 2 == 0 else list(reversed(apps)):
            app = apps[name]
            start = time.thread_time()
            for _ in range(loops):
                app(dict(environ), start_response)
            samples[name].append((time.thread_time() - start) / loops)
    base = statistics.median(samples["plain pyramid"])
    print(f"\nPyramid request without database access, CPU time ({loops} requests x {REPS} repetitions)")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:<36}{median * 1e6:>10.2f} us{median / base:>8.3f}x")


PEER_DIR = Path(__file__).resolve().parent / ".peers" / "original"
PEER_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import psycopg2.extensions, sqlalchemy
    from pyramid import testing
    from sqlalchemy.orm import Session
    from c2cwsgiutils.request_tracking import _sql

    SETS = [0]

    class CountingCursor(psycopg2.extensions.cursor):
        def execute(self, query, vars=None):
            if "application_name" in str(query):
                SETS[0] += 1
            return super().execute(query, vars)

    url, transactions, requests = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    _sql.init()  # what C2C_SQL_REQUEST_ID=1 does in the original
    engine = sqlalchemy.create_engine(url, pool_size=1, connect_args={"cursor_factory": CountingCursor})
    request = testing.DummyRequest()
    testing.setUp(request=request)
    request.c2c_request_id = "warm-up"
    with Session(engine) as session:
        session.execute(sqlalchemy.text("SELECT 1"))
        session.commit()
    SETS[0] = 0
    wall = cpu = 0.0
    for number in range(requests):
        request.c2c_request_id = f"bench-{number}"
        start, start_cpu = time.perf_counter(), time.thread_time()
        for _ in range(transactions // requests):
            with Session(engine) as session:
                session.execute(sqlalchemy.text("SELECT 1"))
                session.commit()
        wall += time.perf_counter() - start
        cpu += time.thread_time() - start_cpu
    print(json.dumps({"wall": wall / transactions, "cpu": cpu / transactions, "sets": SETS[0]}))
    engine.dispose()
    """
)


def ensure_peer() -> Path | None:
    python = PEER_DIR / "bin" / "python"
    if not python.exists():
        print("\nInstalling the original c2cwsgiutils 6.1.10 in bench/.peers/original ...", flush=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(PEER_DIR)], check=True)
            subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "c2cwsgiutils[standard]==6.1.10",
                ],
                check=True,
            )
        except subprocess.CalledProcessError as exc:
            print(f"peer not available: {exc}")
            return None
    return python


def ours_orm(engine: sqlalchemy.Engine, transactions: int, requests: int) -> dict[str, float]:
    from sqlalchemy.orm import Session

    before = SETS["count"]
    wall = cpu = 0.0
    for number in range(requests):
        with context.bind(request_id=f"bench-{time.monotonic_ns()}-{number}", kind="web"):
            start, start_cpu = time.perf_counter(), time.thread_time()
            for _ in range(transactions // requests):
                with Session(engine) as session:
                    session.execute(sqlalchemy.text("SELECT 1"))
                    session.commit()
            wall += time.perf_counter() - start
            cpu += time.thread_time() - start_cpu
    return {"wall": wall / transactions, "cpu": cpu / transactions, "sets": SETS["count"] - before}


def versus_original() -> None:
    python = ensure_peer()
    if python is None:
        return
    url = (
        sqlalchemy.make_url(PG_URL)
        .set(drivername="postgresql+psycopg2")
        .render_as_string(hide_password=False)
    )
    transactions, requests = STATEMENTS, 20
    engine = make_engine("application_name")
    ours_orm(engine, requests, requests)  # warm up
    results: dict[str, list[dict[str, float]]] = {"this toolkit": [], "original 6.1.10": []}
    for rep in range(REPS):
        for name in list(results) if rep % 2 == 0 else list(reversed(results)):
            if name == "this toolkit":
                results[name].append(ours_orm(engine, transactions, requests))
            else:
                output = subprocess.run(
                    [str(python), "-I", "-c", PEER_SCRIPT, url, str(transactions), str(requests)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                results[name].append(json.loads(output.strip().splitlines()[-1]))
    engine.dispose()
    base = statistics.median(r["wall"] for r in results["original 6.1.10"])
    base_cpu = statistics.median(r["cpu"] for r in results["original 6.1.10"])
    print(
        f"\nORM session per transaction, SELECT 1, application_name tagging "
        f"({transactions} transactions x {REPS} repetitions, {requests} request IDs)"
    )
    print(f"{'toolkit':<22}{'wall us':>9}{'ratio':>7}{'CPU us':>9}{'ratio':>7}{'SETs/rep':>10}")
    for name, runs in results.items():
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        sets = statistics.median(r["sets"] for r in runs)
        print(
            f"{name:<22}{wall * 1e6:>9.1f}{wall / base:>7.2f}{cpu * 1e6:>9.2f}{cpu / base_cpu:>7.3f}"
            f"{sets:>10.0f}"
        )


def _callgrind_inner(variant: str, statements: int) -> None:
    engine = make_engine(variant)
    with context.bind(request_id="a" * 32, kind="web", route="hello"), engine.connect() as conn:
        for _ in range(50):  # connection, first application_name, SQLAlchemy's caches
            conn.exec_driver_sql("SELECT 1")
        # Only what runs inside this C-level reduce() is counted (--toggle-collect below).
        functools.reduce(lambda _acc, _item: conn.exec_driver_sql("SELECT 1"), range(statements), None)
        conn.commit()
    engine.dispose()


def _instructions(variant: str, statements: int) -> float:
    """CPU instructions per statement of the client process, counted by callgrind."""
    argv = [sys.executable, __file__, "--callgrind-inner", variant, str(statements)]
    return _harness.reduce_instructions(argv) / statements


def _user_cpu_per_statement(engine: sqlalchemy.Engine, statements: int = 3000) -> float:
    """User-mode CPU seconds per statement of this thread (callgrind counts user-mode instructions)."""
    with context.bind(request_id="a" * 32, kind="web", route="hello"), engine.connect() as conn:
        for _ in range(100):
            conn.exec_driver_sql("SELECT 1")
        start = resource.getrusage(resource.RUSAGE_THREAD).ru_utime
        for _ in range(statements):
            conn.exec_driver_sql("SELECT 1")
        used = resource.getrusage(resource.RUSAGE_THREAD).ru_utime - start
        conn.commit()
    return used / statements


def instruction_counts() -> None:
    """Instructions per statement of the statement loop alone (start-up and warm-up not counted).

    They are turned into microseconds with this machine's own rate, measured on the untagged
    engine: its user-mode CPU time per statement (best of REPS runs, the least disturbed by other
    processes) over its instructions per statement.
    """
    statements = 1000
    variants = ["off", "application_name", "comment", "both"]
    per_statement = {variant: _instructions(variant, statements) for variant in variants}
    engine = make_engine("off")
    cpu_off = min(_user_cpu_per_statement(engine) for _ in range(REPS))
    engine.dispose()
    us_per_instruction = cpu_off * 1e6 / per_statement["off"]
    print(f"\nCPU instructions per SELECT 1 statement (callgrind, {statements} statements)")
    print(
        f"(this machine now: {1 / us_per_instruction:.0f} instructions per user-mode CPU microsecond, "
        f"{cpu_off * 1e6:.1f} us per untagged statement)"
    )
    print(f"{'variant':<22}{'instructions':>13}{'added':>10}{'added us':>10}")
    for variant in variants:
        added = per_statement[variant] - per_statement["off"]
        print(
            f"{variant:<22}{per_statement[variant]:>13.0f}{added:>+10.0f}{added * us_per_instruction:>+10.2f}"
        )


def main() -> None:
    if sys.argv[1:2] == ["--callgrind-inner"]:
        _callgrind_inner(sys.argv[2], int(sys.argv[3]))
        return
    variants = ["off", "application_name", "comment", "both", "SET per transaction"]
    scenario("SELECT 1, one transaction per request", variants, per_transaction=False, requests=20)
    scenario("SELECT 1, one transaction per statement", variants, per_transaction=True, requests=20)
    hook_cost()
    if os.environ.get("BENCH_CALLGRIND") != "0" and shutil.which("valgrind"):
        instruction_counts()
    dbsession_cost()
    versus_original()


if __name__ == "__main__":
    main()
