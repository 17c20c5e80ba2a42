"""The spool under faults: child processes log numbered records through a CollectorHandler against
the stand-in collector (tests/logging/collector_server.py) while it is down, stopped or saturated,
the disk fills, the spool directory turns unwritable, or two writers share it. Each case counts
records logged, stored, missing (must equal what the handlers counted as dropped) and duplicated.

Cases needing root (a 2 MB tmpfs, ``chattr +i``, PID namespaces, ``chown``) are skipped with the
reason when this machine does not allow them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from c2cwsgiutils.logging import collector_handler
from c2cwsgiutils.logging.collector_handler import CollectorHandler
from c2cwsgiutils.logging.spool import Spool
from tests.helpers import ROOT, child_env, free_port, start_process, stop_process, wait_for, wait_port
from tests.logging.collector_server import CollectorServer
from tests.logging.test_collector_handler import logger_for

HANDLER_LOGGER = "c2cwsgiutils.logging.collector_handler"


@pytest.fixture
def server() -> Iterator[CollectorServer]:
    srv = CollectorServer(free_port())
    yield srv
    srv.stop()


@pytest.fixture
def warnings_seen() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    capture = Capture()
    logger = logging.getLogger(HANDLER_LOGGER)
    logger.addHandler(capture)
    yield records
    logger.removeHandler(capture)


def run_child(
    url: str, spool: Path | str, count: int, *options: str, prefix: list[str] | None = None
) -> dict[str, Any]:
    """Run tests/logging/fault_child.py to its end; returns its pid and handler counters."""
    command = [
        *(prefix or []),
        sys.executable,
        "-m",
        "tests.logging.fault_child",
        url,
        str(spool),
        str(count),
    ]
    done = subprocess.run(
        [*command, *options], env=child_env(), cwd=ROOT, timeout=45, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def segments(spool: Path) -> list[Path]:
    return sorted(p for p in spool.iterdir() if p.name.endswith(".ndjson"))


def drain(server: CollectorServer, spool: Path, expected: int, timeout: float = 20.0) -> None:
    """Resend what ``spool`` holds with a handler of this process until ``expected`` are stored."""
    handler = CollectorHandler(
        url=server.url, spool_dir=str(spool), batch_age=0.05, retry_min=0.05, retry_max=0.2
    )
    try:
        wait_for(lambda: len(server.records) >= expected, timeout, f"{expected} records stored")
        wait_for(lambda: not segments(spool), 5, "spool emptied")
    finally:
        handler.close()


def assert_counted(server: CollectorServer, logged: list[str], dropped: int) -> None:
    """Every record logged is stored once, except exactly ``dropped`` ones."""
    messages = server.messages()
    assert len(messages) == len(set(messages)), "a record stored twice"
    missing = set(logged) - set(messages)
    assert len(missing) == dropped, f"{len(missing)} missing, {dropped} counted as dropped"


@contextlib.contextmanager
def small_tmpfs(size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (mode 0700), or skip when mounting is not allowed here."""
    path = Path(tempfile.mkdtemp(prefix="c2c-spool-tmpfs-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        path.rmdir()
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
        path.rmdir()


def chattr(immutable: bool, *paths: Path) -> None:
    done = subprocess.run(
        ["chattr", "+i" if immutable else "-i", *map(str, paths)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not allowed here (needs root): {done.stderr.decode().strip()}")


# ---- a record larger than the read chunk -------------------------------------------------------


def test_a_record_larger_than_the_read_chunk_is_sent_and_does_not_block_the_records_behind_it(
    server: CollectorServer, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    child = run_child(server.url, spool, 3000, "--big", "1500000")  # the collector is down
    assert child["spooled"] == 3001
    server.start()
    drain(server, spool, 3001)
    logged = ["rbig", *(f"r{i}" for i in range(3000))]
    assert server.messages() == logged
    assert server.duplicates == 0
    drain(server, spool, 3001)  # a second start resends nothing
    assert server.duplicates == 0


@pytest.mark.parametrize("limit", ["handler", "collector"])
def test_a_record_over_the_collector_limit_is_dropped_counted_and_named_with_its_size(
    server: CollectorServer, tmp_path: Path, warnings_seen: list[logging.LogRecord], limit: str
) -> None:
    spool = tmp_path / "spool"
    run_child(server.url, spool, 2000, "--big", "1500000")  # spooled: the collector is down
    if limit == "collector":
        server.max_body = 1_000_000  # answers 413
    server.start()
    handler = CollectorHandler(
        url=server.url,
        spool_dir=str(spool),
        batch_age=0.05,
        retry_min=0.05,
        # The handler's limit: the collector's C2C_COLLECTOR_MAX_BODY_BYTES when it is not the default.
        max_record_bytes=1_000_000 if limit == "handler" else 16 * 1024 * 1024,
    )
    try:
        wait_for(lambda: len(server.records) == 2000, message="the records behind the large one")
        wait_for(lambda: not segments(spool), message="spool emptied")
        assert handler.stats()["too_large"] == 1
    finally:
        handler.close()
    assert server.messages() == [f"r{i}" for i in range(2000)]
    (warning,) = [r.getMessage() for r in warnings_seen if "dropped a record of" in r.getMessage()]
    assert "dropped a record of 150" in warning  # its size in bytes (the message and the JSON)


# ---- disk full ------------------------------------------------------------------------------


def test_a_full_disk_leaves_whole_lines_an_exact_drop_count_and_no_segment_behind(
    server: CollectorServer,
) -> None:
    with small_tmpfs("2m") as spool:
        # The collector is down: 40,000 records of ~400 bytes cannot fit in 2 MB.
        child = run_child(server.url, spool, 40000, "--queue-size", "500", "--prefix", "a" * 100)
        assert child["dropped"] > 0
        for path in segments(spool):  # no torn line, no record glued to a fragment
            for line in path.read_bytes().splitlines():
                assert json.loads(line)["msg"].startswith("a" * 100)
        server.start()
        # While the disk is still full, a process finds the collector up: nothing is dropped.
        filler = spool / "filler"
        with contextlib.suppress(OSError), open(filler, "wb") as file:
            file.write(b"\0" * 4 * 1024 * 1024)
        second = run_child(server.url, spool, 1000, "--prefix", "b", "--pace")
        assert second["dropped"] == 0
        filler.unlink()
        drain(server, spool, 40000 + 1000 - child["dropped"])
        assert not segments(spool)  # every segment released once sent
    logged = [f"{'a' * 100}{i}" for i in range(40000)] + [f"b{i}" for i in range(1000)]
    assert_counted(server, logged, child["dropped"])


# ---- an unwritable spool directory -----------------------------------------------------------


@pytest.mark.parametrize("immutable", ["directory", "directory and segments"])
def test_an_unwritable_spool_causes_no_resend_loop_and_no_loss_while_the_collector_is_up(
    server: CollectorServer, tmp_path: Path, warnings_seen: list[logging.LogRecord], immutable: str
) -> None:
    spool = tmp_path / "spool"
    handler = CollectorHandler(
        url=server.url, spool_dir=str(spool), batch_age=0.05, retry_min=0.05, retry_max=0.2, flush_timeout=1
    )
    paths: list[Path] = []
    try:
        log = logger_for(handler)
        logged = [f"old {i}" for i in range(1000)]
        for message in logged:
            log.info(message)
        handler.flush()  # spooled: the collector is down
        # Nothing can be created or deleted there any more (nor the segments written or emptied).
        paths = [spool, *spool.iterdir()] if immutable == "directory and segments" else [spool]
        chattr(True, *paths)
        server.start()
        for i in range(500):
            log.info("new %d", i)
            logged.append(f"new {i}")
            if i % 50 == 49:
                time.sleep(0.02)
        wait_for(lambda: len(server.records) == 1500, message="every record stored")
        posts = len(server.statuses)
        time.sleep(1.0)  # a resend loop would POST thousands of times in this second
        assert len(server.statuses) - posts <= 2
        assert server.duplicates == 0
        assert handler.stats()["dropped"] == 0
    finally:
        chattr(False, *paths)
        handler.close()
    assert_counted(server, logged, 0)
    # Said once: that a sent segment cannot be deleted, and (when a write failed) that the spool
    # is unusable; never repeated in a loop.
    said = [r.getMessage() for r in warnings_seen]
    assert sum("cannot delete" in m for m in said) == 1, said
    assert sum("is unusable" in m for m in said) <= 1, said


def test_an_unwritable_spool_at_start_keeps_records_in_memory_until_the_collector_answers(
    server: CollectorServer, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    chattr(True, spool)
    try:
        handler = CollectorHandler(
            url=server.url, spool_dir=str(spool), batch_age=0.05, retry_min=0.05, retry_max=0.2
        )
        try:
            logged = [f"r{i}" for i in range(300)]
            log = logger_for(handler)
            for message in logged:
                log.info(message)
            handler.flush()
            server.start()
            wait_for(lambda: len(server.records) == 300, message="the held records sent")
            assert handler.stats()["dropped"] == 0
        finally:
            handler.close()
    finally:
        chattr(False, spool)
    assert_counted(server, logged, 0)


# ---- shared spool directories ----------------------------------------------------------------


def test_two_writers_with_the_same_pid_never_take_each_others_segments(
    server: CollectorServer, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    namespace = ["unshare", "--pid", "--fork"]
    probe = subprocess.run([*namespace, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a PID namespace here (needs root): {probe.stderr.decode().strip()}")
    command = [*namespace, sys.executable, "-m", "tests.logging.fault_child", server.url, str(spool), "3000"]
    children = [
        subprocess.Popen(
            [*command, "--prefix", prefix, "--pace", "--linger", "2"],
            env=child_env(),
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        for prefix in ("a", "b")
    ]

    def owners() -> set[str]:
        return {p.name.split("-", 1)[1] for p in segments(spool)} if spool.exists() else set()

    wait_for(lambda: len(owners()) == 2, 30, "both spooling while the collector is down")
    server.start()  # then both send, and resend their own segments
    results = []
    for child in children:
        out, _ = child.communicate(timeout=45)
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert [r["pid"] for r in results] == [1, 1]
    assert all(r["spooled"] > 0 for r in results)  # both had a spool of their own in the one directory
    drain(server, spool, 6000)
    logged = [f"{p}{i}" for p in "ab" for i in range(3000)]
    assert_counted(server, logged, sum(r["dropped"] for r in results))
    assert server.duplicates == 0


def test_the_spool_bound_holds_for_the_directory_of_several_processes(
    server: CollectorServer, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    bound = 300_000
    options = ["--max-bytes", str(bound), "--queue-size", "100"]
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.logging.fault_child",
                server.url,
                str(spool),
                "5000",
                "--prefix",
                p,
                *options,
            ],
            env=child_env(),
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        for p in "abc"
    ]
    results = []
    for child in children:
        out, _ = child.communicate(timeout=45)
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    size = sum(p.stat().st_size for p in segments(spool))
    assert bound * 0.8 < size <= bound
    dropped = sum(r["dropped"] for r in results)
    server.start()
    drain(server, spool, 15000 - dropped)
    assert_counted(server, [f"{p}{i}" for p in "abc" for i in range(5000)], dropped)


# ---- trust ---------------------------------------------------------------------------------


def test_the_default_spool_directory_is_per_user_and_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    directory = Path(collector_handler.default_spool_dir("http://collector:8090"))
    assert directory.parent.name == f"c2cwsgiutils-collector-{os.geteuid()}"
    spool = Spool(directory, 10**6)
    spool.open()
    spool.close()
    for path in (directory, directory.parent):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700


@pytest.mark.parametrize("fault", ["group-writable directory", "directory of another user"])
def test_an_untrusted_spool_directory_is_refused_and_records_still_shipped(
    server: CollectorServer, tmp_path: Path, warnings_seen: list[logging.LogRecord], fault: str
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / f"{time.time_ns():020d}-1-planted.ndjson").write_text(
        '{"msg":"planted","c2c_uuid":"%s"}\n' % ("e" * 32)
    )
    if fault == "group-writable directory":
        spool.chmod(0o770)
    else:
        try:
            os.chown(spool, 65534, 65534)
        except PermissionError:
            pytest.skip("chown needs root")
    server.start()
    handler = CollectorHandler(url=server.url, spool_dir=str(spool), batch_age=0.05)
    try:
        logger_for(handler).info("shipped")
        wait_for(lambda: len(server.records) == 1)
    finally:
        handler.close()
    assert server.messages() == ["shipped"]
    assert any("refused" in r.getMessage() for r in warnings_seen)


@pytest.mark.parametrize("fault", ["writable by others", "of another user"])
def test_a_segment_of_another_user_or_writable_by_others_is_never_sent(
    server: CollectorServer, tmp_path: Path, warnings_seen: list[logging.LogRecord], fault: str
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    planted = spool / f"{time.time_ns():020d}-1-planted.ndjson"
    planted.write_text('{"msg":"planted","c2c_uuid":"%s"}\n' % ("e" * 32))
    if fault == "writable by others":
        planted.chmod(0o666)
    else:
        try:
            os.chown(planted, 65534, 65534)
        except PermissionError:
            pytest.skip("chown needs root")
    server.start()
    handler = CollectorHandler(url=server.url, spool_dir=str(spool), batch_age=0.05)
    try:
        logger_for(handler).info("shipped")
        wait_for(lambda: len(server.records) == 1)
        handler.spool.scan()
        handler.flush()
    finally:
        handler.close()
    assert server.messages() == ["shipped"]
    assert planted.exists()
    assert any("refused" in r.getMessage() and planted.name in r.getMessage() for r in warnings_seen)


# ---- a saturated, stopped or killed collector ----------------------------------------------------


def test_retry_after_is_honoured_and_nothing_is_lost(server: CollectorServer, tmp_path: Path) -> None:
    server.status, server.retry_after = 503, 2
    server.start()
    handler = CollectorHandler(
        url=server.url, spool_dir=str(tmp_path / "spool"), batch_age=0.05, retry_min=0.05, retry_max=10
    )
    try:
        logged = [f"r{i}" for i in range(200)]
        log = logger_for(handler)
        for message in logged:
            log.info(message)
        wait_for(lambda: 503 in server.statuses, message="a 503")
        time.sleep(1.0)  # back-off from retry_min would have retried about 5 times by now
        assert server.statuses.count(503) == 1
        server.status = 0
        wait_for(lambda: len(server.records) == 200, message="every record after Retry-After")
    finally:
        handler.close()
    assert_counted(server, logged, 0)


def test_retry_after_is_bounded_by_retry_max(server: CollectorServer, tmp_path: Path) -> None:
    server.status, server.retry_after = 429, 3600
    server.start()
    handler = CollectorHandler(
        url=server.url, spool_dir=str(tmp_path / "spool"), batch_age=0.05, retry_min=0.05, retry_max=0.3
    )
    try:
        logger_for(handler).info("r")
        wait_for(lambda: server.statuses.count(429) >= 3, message="retries every retry_max")
        server.status = 0
        wait_for(lambda: len(server.records) == 1)
    finally:
        handler.close()


def test_a_stopped_then_killed_collector_ends_with_every_record_stored_once(tmp_path: Path) -> None:
    port = free_port()
    store = tmp_path / "store.ndjson"
    args = ["python", "-m", "tests.logging.collector_server", "--port", str(port), "--store", str(store)]
    collector = start_process(args)
    spool = tmp_path / "spool"
    url = f"http://127.0.0.1:{port}"
    try:
        wait_port(port, process=collector)
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.logging.fault_child",
                url,
                str(spool),
                "6000",
                "--pace",
                "--linger",
                "3",
            ],
            env=child_env(),
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        wait_for(lambda: store.exists() and store.stat().st_size > 0, 30, "the child's first records stored")
        os.killpg(collector.pid, signal.SIGSTOP)  # hangs: POSTs time out (2 s), records spooled
        time.sleep(2.5)
        os.killpg(collector.pid, signal.SIGKILL)
        collector.wait()
        collector = start_process(args)
        wait_port(port, process=collector)
        out, _ = child.communicate(timeout=45)
        result = json.loads(out.decode().strip().splitlines()[-1])

        def stored() -> list[str]:
            text = store.read_text()
            return [json.loads(line)["msg"] for line in text[: text.rfind("\n") + 1].splitlines()]

        if segments(spool):  # what the child could not send before its exit flush ended
            handler = CollectorHandler(url=url, spool_dir=str(spool), batch_age=0.05, retry_min=0.05)
            try:
                wait_for(lambda: not segments(spool), 30, "spool emptied")
            finally:
                handler.close()
        messages = stored()
        assert len(messages) == len(set(messages))  # nothing stored twice
        assert len(set(messages) ^ {f"r{i}" for i in range(6000)}) == result["dropped"] == 0
        assert result["failures"] > 0
    finally:
        stop_process(collector)


def test_a_record_over_the_limit_logged_while_the_collector_is_up_is_dropped_and_named(
    server: CollectorServer, tmp_path: Path, warnings_seen: list[logging.LogRecord]
) -> None:
    server.start()
    handler = CollectorHandler(
        url=server.url, spool_dir=str(tmp_path / "spool"), batch_age=0.05, max_record_bytes=100_000
    )
    try:
        log = logger_for(handler)
        log.info("before")
        log.info("big", extra={"blob": "x" * 200_000})
        log.info("after")
        wait_for(lambda: len(server.records) == 2)
        assert handler.stats()["too_large"] == 1
    finally:
        handler.close()
    assert server.messages() == ["before", "after"]
    assert any("dropped a record of 200" in r.getMessage() for r in warnings_seen)


def test_a_large_record_in_the_segment_being_written_does_not_hold_up_the_backlog(
    server: CollectorServer, tmp_path: Path
) -> None:
    handler = CollectorHandler(
        url=server.url, spool_dir=str(tmp_path / "spool"), batch_age=0.05, retry_min=0.05, retry_max=0.2
    )
    try:
        log = logger_for(handler)
        log.info("big", extra={"blob": "x" * 1_500_000})
        logged = ["big", *(f"r{i}" for i in range(500))]
        for message in logged[1:]:
            log.info(message)
        handler.flush()  # all in the one segment this process is writing: the collector is down
        server.start()
        wait_for(lambda: len(server.records) == 501, message="the large record and those behind it")
    finally:
        handler.close()
    assert server.messages() == logged


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    from email.utils import formatdate

    from c2cwsgiutils.logging.collector_transport import parse_retry_after

    assert parse_retry_after("7") == 7.0
    in_a_minute = parse_retry_after(formatdate(time.time() + 60, usegmt=True))
    assert in_a_minute is not None
    assert 55 < in_a_minute <= 60
    assert parse_retry_after(formatdate(time.time() - 60, usegmt=True)) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_writers_overloading_the_real_collector_store_every_record_once(tmp_path: Path) -> None:
    # The real collector (c2cwsgiutils-logs serve, SQLite) taking one request at a time: the
    # others are answered 503 + Retry-After at once; six writers sharing one spool keep resending.
    from tests.collector.serve import serve_collector

    env = {"C2C_COLLECTOR_THREADS": "4", "C2C_COLLECTOR_MAX_INFLIGHT": "1"}
    spool = tmp_path / "spool"
    with serve_collector(tmp_path, env=env) as port:
        url = f"http://127.0.0.1:{port}"
        children = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.logging.fault_child",
                    url,
                    str(spool),
                    "3000",
                    "--prefix",
                    f"w{n}-",
                    "--pace",
                    "--linger",
                    "2",
                ],
                env=child_env(),
                cwd=ROOT,
                stdout=subprocess.PIPE,
            )
            for n in range(6)
        ]
        results = []
        for child in children:
            out, _ = child.communicate(timeout=45)
            results.append(json.loads(out.decode().strip().splitlines()[-1]))
        handler = CollectorHandler(
            url=url, spool_dir=str(spool), batch_age=0.05, retry_min=0.05, retry_max=0.5
        )
        try:
            wait_for(lambda: not segments(spool), 30, "what the writers left in the spool resent")
        finally:
            handler.close()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("HEAD", "/api/v1/record")
        response = connection.getresponse()
        response.read()
        connection.close()
    assert sum(r["dropped"] for r in results) == 0
    assert int(response.headers["X-Record-Count"]) == 6 * 3000  # none missing, none stored twice
