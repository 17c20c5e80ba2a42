"""CollectorHandler against a real local collector (tests/logging/collector_server.py) and real processes."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from c2cwsgiutils import config, context
from c2cwsgiutils.logging.collector_handler import CollectorHandler
from tests.helpers import ROOT, child_env, free_port, start_process, stop_process, wait_for, wait_port
from tests.logging.collector_server import CollectorServer

HANDLER_LOGGER = "c2cwsgiutils.logging.collector_handler"

# make_handler(url, **CollectorHandler options): a handler on the test's spool, closed at the end.
MakeHandler = Callable[..., CollectorHandler]


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def server() -> Iterator[CollectorServer]:
    srv = CollectorServer(free_port()).start()
    yield srv
    srv.stop()


@pytest.fixture
def spool_dir(tmp_path: Path) -> str:
    return str(tmp_path / "spool")


@pytest.fixture
def make_handler(spool_dir: str) -> Iterator[MakeHandler]:
    handlers: list[CollectorHandler] = []

    def make(url: str, **kwargs: Any) -> CollectorHandler:
        options: dict[str, Any] = {
            "service": "svc",
            "spool_dir": spool_dir,
            "batch_age": 0.05,
            "retry_min": 0.05,
            "retry_max": 0.2,
            "flush_timeout": 2,
            "timeout": 5,
            **kwargs,
        }
        handler = CollectorHandler(url=url, **options)
        handlers.append(handler)
        return handler

    yield make
    for handler in handlers:
        handler.close()


@pytest.fixture
def warnings_seen() -> Iterator[list[logging.LogRecord]]:
    """The WARNING records the handler logs about itself."""
    capture = ListHandler()
    logger = logging.getLogger(HANDLER_LOGGER)
    logger.addHandler(capture)
    yield capture.records
    logger.removeHandler(capture)


def logger_for(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"test.collector.{uuid.uuid4().hex[:8]}")
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


def log_many(logger: logging.Logger, count: int, start: int = 0) -> list[str]:
    for i in range(start, start + count):
        logger.info("record %d", i)
    return [f"record {i}" for i in range(start, start + count)]


def test_records_arrive_with_schema_fields_correlation_and_uuid(
    server: CollectorServer, make_handler: MakeHandler
) -> None:
    log = logger_for(make_handler(server.url))
    with context.bind(request_id="req-1", trace_id="a" * 32, span_id="b" * 16, kind="web"):
        log.warning("user %s did %d things", "bob", 3, extra={"user_id": 42})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    wait_for(lambda: len(server.records) == 2)
    first, second = (server.records[u] for u in server.order)
    assert first["msg"] == "user bob did 3 things"
    assert (first["level_name"], first["logger_name"], first["service"]) == ("WARNING", log.name, "svc")
    assert (first["request_id"], first["trace_id"], first["span_id"], first["kind"]) == (
        "req-1",
        "a" * 32,
        "b" * 16,
        "web",
    )
    assert first["user_id"] == 42
    assert first["pid"] == os.getpid()
    assert len(first["c2c_uuid"]) == 32
    assert int(first["c2c_uuid"], 16) >= 0
    assert first["c2c_uuid"] != second["c2c_uuid"]
    assert "ValueError: boom" in second["exception"]


def test_batches_are_gzip_ndjson_posts_with_the_bearer_token(make_handler: MakeHandler) -> None:
    srv = CollectorServer(free_port(), token="s3cret").start()
    try:
        log = logger_for(make_handler(srv.url, token="s3cret"))
        log_many(log, 5)
        wait_for(lambda: len(srv.records) == 5)
        headers = srv.requests[0]
        assert headers["content-type"] == "application/x-ndjson"
        assert headers["content-encoding"] == "gzip"
        assert headers["authorization"] == "Bearer s3cret"
    finally:
        srv.stop()


def test_batches_reuse_one_keep_alive_connection(server: CollectorServer, make_handler: MakeHandler) -> None:
    handler = make_handler(server.url)
    log = logger_for(handler)
    for batch in range(3):
        log_many(log, 10, start=batch * 10)
        handler.flush()
    wait_for(lambda: len(server.records) == 30)
    assert len(server.peers) >= 3
    assert len(set(server.peers)) == 1


def test_emit_never_raises_and_ships_unserializable_extras_and_broken_formats(
    server: CollectorServer, make_handler: MakeHandler
) -> None:
    class Unrepresentable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    circular: dict[str, Any] = {}
    circular["self"] = circular
    log = logger_for(make_handler(server.url))
    log.info("an object", extra={"obj": object()})
    log.info("a bad repr", extra={"obj": Unrepresentable()})
    log.info("a circular dict", extra={"obj": circular})
    log.info("not a number", extra={"obj": float("nan")})
    log.info("%d items", "many")
    wait_for(lambda: len(server.records) == 5)
    records = [server.records[u] for u in server.order]
    assert records[0]["obj"].startswith("<object object at")
    assert records[1]["obj"] == "<unrepresentable Unrepresentable>"
    assert "{...}" in records[2]["obj"]["self"]
    assert records[3]["obj"] == "nan"
    assert "TypeError" in records[4]["msg"]


def test_emit_never_raises_while_the_collector_is_down(make_handler: MakeHandler) -> None:
    handler = make_handler(f"http://127.0.0.1:{free_port()}")
    log = logger_for(handler)
    log_many(log, 50)
    handler.flush()
    assert handler.stats()["emit_errors"] == 0
    assert handler.stats()["spooled"] == 50


def test_spooled_records_are_resent_in_order_without_duplicates_when_the_collector_is_back(
    server: CollectorServer, make_handler: MakeHandler, spool_dir: str
) -> None:
    server.stop()
    handler = make_handler(server.url)
    log = logger_for(handler)
    expected = log_many(log, 300)
    handler.flush()
    assert any(name.endswith(".ndjson") for name in os.listdir(spool_dir))
    server.start()
    wait_for(lambda: len(server.records) == 300, message="all records resent")
    assert server.messages() == expected
    assert server.duplicates == 0
    wait_for(lambda: not [n for n in os.listdir(spool_dir) if n.endswith(".ndjson")], message="spool emptied")


def test_server_errors_are_retried_with_back_off_until_accepted(
    server: CollectorServer, make_handler: MakeHandler
) -> None:
    server.status = 500
    log = logger_for(make_handler(server.url))
    expected = log_many(log, 40)
    wait_for(lambda: server.statuses.count(500) >= 3, message="three failed attempts")
    server.status = 0
    wait_for(lambda: len(server.records) == 40)
    assert server.messages() == expected


def test_a_full_queue_spills_to_the_spool_and_nothing_is_lost(
    server: CollectorServer, make_handler: MakeHandler
) -> None:
    server.delay = 0.3
    handler = make_handler(server.url, queue_size=2, batch_size=2)
    log = logger_for(handler)
    log_many(log, 400)
    server.delay = 0
    handler.flush()
    assert handler.stats()["overflowed"] > 0
    wait_for(lambda: len(server.records) == 400)
    assert sorted(server.messages()) == sorted(f"record {i}" for i in range(400))


def test_a_batch_too_large_is_split_until_accepted(make_handler: MakeHandler) -> None:
    srv = CollectorServer(free_port(), max_lines=7).start()
    try:
        handler = make_handler(srv.url, batch_size=100)
        expected = log_many(logger_for(handler), 100)
        handler.flush()
        wait_for(lambda: len(srv.records) == 100)
        assert 413 in srv.statuses
        assert srv.messages() == expected
    finally:
        srv.stop()


def test_invalid_lines_are_dropped_counted_and_warned_about(
    server: CollectorServer, make_handler: MakeHandler, warnings_seen: list[logging.LogRecord]
) -> None:
    handler = make_handler(server.url)
    log = logger_for(handler)
    log.info("good 1")
    log.info("bad", extra={"poison": True})
    log.info("good 2")
    handler.flush()
    wait_for(lambda: handler.stats()["invalid"] == 1)
    assert server.messages() == ["good 1", "good 2"]
    assert 207 in server.statuses
    assert any("rejected 1 record(s) as invalid" in r.getMessage() for r in warnings_seen)


def test_refused_credentials_keep_the_records_until_the_token_is_accepted(
    make_handler: MakeHandler, warnings_seen: list[logging.LogRecord]
) -> None:
    srv = CollectorServer(free_port(), token="new-token").start()
    try:
        handler = make_handler(srv.url, token="old-token")
        expected = log_many(logger_for(handler), 20)
        wait_for(lambda: 401 in srv.statuses)
        handler.flush()
        assert handler.stats()["spooled"] == 20
        assert any("refused the credentials" in r.getMessage() for r in warnings_seen)
        srv.token = "old-token"  # the collector's operator fixes the credentials
        wait_for(lambda: len(srv.records) == 20)
        assert srv.messages() == expected
    finally:
        srv.stop()


def test_records_past_the_spool_bound_are_dropped_counted_and_reported(
    server: CollectorServer, make_handler: MakeHandler, warnings_seen: list[logging.LogRecord]
) -> None:
    server.stop()
    # A small queue: what the spool refuses is held in memory up to queue_size records, then dropped.
    handler = make_handler(server.url, spool_max_bytes=30_000, report_interval=0.2, queue_size=50)
    log = logger_for(handler)
    log_many(log, 300)
    handler.flush()
    dropped = handler.stats()["dropped"]
    assert dropped > 0
    wait_for(lambda: any("dropped" in r.getMessage() for r in warnings_seen), message="drop report")
    report = next(r for r in warnings_seen if "dropped" in r.getMessage())
    assert report.getMessage().startswith(f"Collector handler: {dropped} record(s) dropped")
    server.start()
    wait_for(lambda: len(server.records) == 300 - dropped)


def test_its_own_warnings_do_not_block_a_flush_under_the_handler_lock(make_handler: MakeHandler) -> None:
    handler = make_handler(f"http://127.0.0.1:{free_port()}")
    root = logging.getLogger()
    root.addHandler(handler)  # its "collector unavailable" warning comes back to it
    try:
        log_many(logger_for(handler), 10)
        handler.acquire()  # what logging.shutdown() and dictConfig() hold around flush() and close()
        try:
            handler.flush()
        finally:
            handler.release()
        assert handler.stats()["spooled"] >= 10
    finally:
        root.removeHandler(handler)


def test_records_from_many_threads_all_arrive_once(
    server: CollectorServer, make_handler: MakeHandler
) -> None:
    handler = make_handler(server.url, queue_size=500)
    log = logger_for(handler)
    threads = [threading.Thread(target=log_many, args=(log, 500, n * 500)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.flush()
    wait_for(lambda: len(server.records) == 2000)
    assert server.duplicates == 0
    assert sorted(server.messages()) == sorted(f"record {i}" for i in range(2000))


def test_a_forked_child_ships_its_own_records_and_not_its_parents_queue(
    server: CollectorServer, make_handler: MakeHandler
) -> None:
    handler = make_handler(server.url, batch_age=5)
    log = logger_for(handler)
    log_many(log, 10)  # still queued in memory at fork time (batch_age=5)
    pid = os.fork()
    if pid == 0:  # the child: log, close (flush), leave without running pytest's clean-up
        code = 0
        try:
            log.info("from the child")
            handler.close()
            code = 0 if handler.stats()["stored"] == 1 else 1
        except BaseException:
            code = 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    handler.flush()
    wait_for(lambda: len(server.records) == 11)
    child = [r for r in server.records.values() if r["msg"] == "from the child"]
    assert len(child) == 1
    assert child[0]["pid"] == pid
    assert server.duplicates == 0


def run_child(url: str, spool: str, count: int, *options: str, timeout: float = 30) -> None:
    subprocess.run(
        [sys.executable, "-m", "tests.logging.collector_child", url, spool, str(count), *options],
        env=child_env(),
        cwd=ROOT,
        timeout=timeout,
        check=False,
        capture_output=True,
    )


def test_exit_flush_is_bounded_and_the_next_process_resends_what_was_left(
    server: CollectorServer, spool_dir: str
) -> None:
    server.delay = 30  # hangs far longer than the flush time-out
    # An exit that waited for the collector (HTTP time-out 30 s) would exceed the 15 s given here.
    options = ("--prefix", "first ", "--flush-timeout", "0.5", "--timeout", "30")
    run_child(server.url, spool_dir, 200, *options, timeout=15)
    assert any(name.endswith(".ndjson") for name in os.listdir(spool_dir))
    server.delay = 0
    run_child(server.url, spool_dir, 1, "--prefix", "second ")
    wait_for(lambda: len(server.records) == 201)
    messages = server.messages()
    assert sorted(m for m in messages if m.startswith("first ")) == sorted(f"first {i}" for i in range(200))
    assert not any(name.endswith(".ndjson") for name in os.listdir(spool_dir))


def test_segments_of_a_killed_process_are_adopted_and_resent(
    server: CollectorServer, make_handler: MakeHandler, spool_dir: str
) -> None:
    run_child(f"http://127.0.0.1:{free_port()}", spool_dir, 50, "--sigkill")
    assert any(name.endswith(".ndjson") for name in os.listdir(spool_dir))
    make_handler(server.url)
    wait_for(lambda: len(server.records) == 50)
    assert server.messages() == [f"record {i}" for i in range(50)]


def test_sigkilled_collector_under_load_ends_with_every_record_stored_once(
    make_handler: MakeHandler, tmp_path: Path
) -> None:
    port = free_port()
    store = tmp_path / "store.ndjson"
    args = ["python", "-m", "tests.logging.collector_server", "--port", str(port), "--store", str(store)]
    collector = start_process(args)
    try:
        wait_port(port, process=collector)
        handler = make_handler(f"http://127.0.0.1:{port}", batch_size=100)
        log = logger_for(handler)
        total = 0
        for step in range(40):
            log_many(log, 100, start=total)
            total += 100
            time.sleep(0.02)
            if step == 15:
                os.killpg(collector.pid, signal.SIGKILL)
                collector.wait()
            if step == 25:
                collector = start_process(args)
                wait_port(port, process=collector)
        handler.flush()

        def stored() -> list[str]:
            # Only complete lines: the server may be writing right now.
            text = store.read_text()
            return [json.loads(line)["c2c_uuid"] for line in text[: text.rfind("\n") + 1].splitlines()]

        wait_for(lambda: len(set(stored())) == total, timeout=30, message="every record stored")
        assert len(stored()) == total  # nothing stored twice
        assert handler.stats()["failures"] > 0  # the kill was seen
    finally:
        stop_process(collector)


def test_dict_config_builds_a_working_handler(server: CollectorServer, spool_dir: str) -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "incremental": False,
            "disable_existing_loggers": False,
            "handlers": {
                "collector": {
                    "class": "c2cwsgiutils.logging.collector_handler.CollectorHandler",
                    "url": server.url,
                    "service": "dict-service",
                    "spool_dir": spool_dir,
                    "batch_age": "0.05",
                }
            },
            "loggers": {"test.dictconfig": {"level": "INFO", "handlers": ["collector"], "propagate": False}},
        }
    )
    logger = logging.getLogger("test.dictconfig")
    try:
        logger.info("configured by dict")
        wait_for(lambda: len(server.records) == 1)
        assert server.records[server.order[0]]["service"] == "dict-service"
    finally:
        for handler in logger.handlers:
            handler.close()
        logger.handlers = []


def test_ini_file_config_builds_a_working_handler(
    server: CollectorServer, spool_dir: str, tmp_path: Path
) -> None:
    ini = tmp_path / "logging.ini"
    ini.write_text(
        f"""
[loggers]
keys = root, app

[handlers]
keys = collector

[formatters]
keys =

[logger_root]
level = WARNING
handlers =

[logger_app]
level = INFO
handlers = collector
qualname = test.iniconfig
propagate = 0

[handler_collector]
class = c2cwsgiutils.logging.collector_handler.CollectorHandler
args = ()
kwargs = {{"url": "{server.url}", "service": "ini-service", "spool_dir": "{spool_dir}", "batch_age": 0.05}}
"""
    )
    root_handlers = logging.getLogger().handlers[:]
    logging.config.fileConfig(ini, disable_existing_loggers=False)
    logger = logging.getLogger("test.iniconfig")
    try:
        logger.info("configured by ini")
        wait_for(lambda: len(server.records) == 1)
        assert server.records[server.order[0]]["service"] == "ini-service"
    finally:
        for handler in logger.handlers:
            handler.close()
        logger.handlers = []
        logging.getLogger().handlers = root_handlers


def test_environment_settings_are_the_defaults(
    server: CollectorServer, spool_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("C2C_COLLECTOR_URL", server.url)
    monkeypatch.setenv("C2C_SERVICE_NAME", "env-service")
    monkeypatch.setenv("C2C_COLLECTOR_SPOOL_DIR", spool_dir)
    monkeypatch.setenv("C2C_COLLECTOR_BATCH_AGE", "0.05")
    handler = CollectorHandler()
    try:
        logger_for(handler).info("configured by env")
        wait_for(lambda: len(server.records) == 1)
        assert server.records[server.order[0]]["service"] == "env-service"
    finally:
        handler.close()


def test_an_invalid_setting_fails_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C2C_COLLECTOR_BATCH_SIZE", "lots")
    with pytest.raises(config.ConfigError, match="C2C_COLLECTOR_BATCH_SIZE"):
        CollectorHandler(url="http://127.0.0.1:1")


def test_a_url_without_scheme_fails_naming_the_variable() -> None:
    with pytest.raises(config.ConfigError, match="C2C_COLLECTOR_URL"):
        CollectorHandler(url="collector:8090")


def test_without_a_url_the_handler_drops_records_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("C2C_COLLECTOR_URL", raising=False)
    handler = CollectorHandler()
    logger_for(handler).info("nowhere to go")
    handler.close()
    assert handler.stats() == {"queued": 0, "emit_errors": 0, "overflowed": 0}


def test_an_unusable_spool_directory_does_not_stop_shipping(
    server: CollectorServer, tmp_path: Path, warnings_seen: list[logging.LogRecord]
) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    handler = CollectorHandler(url=server.url, spool_dir=str(not_a_directory), batch_age=0.05)
    try:
        logger_for(handler).info("still shipped")
        wait_for(lambda: len(server.records) == 1)
        assert any("is unusable" in r.getMessage() for r in warnings_seen)
    finally:
        handler.close()


def test_spool_files_hold_one_json_record_per_line(make_handler: MakeHandler, spool_dir: str) -> None:
    handler = make_handler(f"http://127.0.0.1:{free_port()}")
    logger_for(handler).info("kept on disk")
    handler.flush()
    (segment,) = [name for name in os.listdir(spool_dir) if name.endswith(".ndjson")]
    assert segment.split("-")[1] == str(os.getpid())  # {time_ns}-{pid}-{random token}.ndjson
    data = (Path(spool_dir) / segment).read_text()
    assert json.loads(data.strip())["msg"] == "kept on disk"


def test_a_record_ships_the_message_of_emit_time_though_its_args_change_later(
    server: CollectorServer, make_handler: MakeHandler
) -> None:
    log = logger_for(make_handler(server.url, batch_age=0.5))
    items = ["a"]
    log.info("items: %s", items)
    items.append("b")
    wait_for(lambda: len(server.records) == 1)
    assert server.messages() == ["items: ['a']"]


def test_a_message_formatted_in_the_sender_is_the_one_of_emit_time(
    server: CollectorServer, make_handler: MakeHandler
) -> None:
    # Immutable arguments are %-formatted by the sender thread, with the format emit saw: a later
    # handler changing the record (a redacting one, say) does not change what was shipped.
    class Rewrite(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            record.msg, record.args = "rewritten %s", ("later",)

    log = logger_for(make_handler(server.url, batch_age=0.5))
    log.addHandler(Rewrite())
    log.info("user %s fetched %d items in %.1f s (%r, %s)", "alice", 3, 0.25, b"x", None)
    log.info("%d items", "many")  # fails in the sender: the fallback shows what emit saw
    wait_for(lambda: len(server.records) == 2)
    records = [server.records[u] for u in server.order]
    assert records[0]["msg"] == "user alice fetched 3 items in 0.2 s (b'x', None)"
    assert "TypeError" in records[1]["msg"]
    assert "%d items" in records[1]["msg"]
    assert "rewritten" not in records[1]["msg"]


def test_an_exception_record_ships_its_traceback_as_it_was_at_emit_time(
    server: CollectorServer, make_handler: MakeHandler
) -> None:
    class ChangingError(Exception):
        def __init__(self) -> None:
            super().__init__()
            self.text = "as raised"

        def __str__(self) -> str:
            return self.text

    log = logger_for(make_handler(server.url, batch_age=0.5))
    error = ChangingError()
    try:
        raise error
    except ChangingError:
        log.exception("failed")
    error.text = "changed later"
    wait_for(lambda: len(server.records) == 1)
    (record,) = server.records.values()
    assert record["exception"].startswith("Traceback (most recent call last):")
    assert "raise error" in record["exception"]
    assert record["exception"].endswith("ChangingError: as raised")


def test_a_record_ships_the_context_of_emit_time_not_the_senders(
    server: CollectorServer, make_handler: MakeHandler
) -> None:
    log = logger_for(make_handler(server.url, batch_age=0.5))
    with context.bind(request_id="req-emit", kind="web"):
        log.info("inside")
    log.info("outside")
    wait_for(lambda: len(server.records) == 2)
    inside, outside = (server.records[u] for u in server.order)
    assert (inside["request_id"], inside["kind"]) == ("req-emit", "web")
    assert outside["request_id"] == ""


def test_records_the_sender_was_serialising_at_close_are_spooled_once(
    server: CollectorServer, make_handler: MakeHandler, spool_dir: str
) -> None:
    class SlowRepr:
        def __repr__(self) -> str:
            time.sleep(0.2)
            return "slow"

    handler = make_handler(server.url, flush_timeout=0.1, batch_age=0.01)
    log = logger_for(handler)
    for i in range(5):
        log.info("slow %d", i, extra={"obj": SlowRepr()})
    wait_for(lambda: handler.queued() == 0, message="the sender took the records")
    abandoned = handler._thread
    assert abandoned is not None
    handler.close()  # gives up on the sender in the middle of serialising: the closer spools them
    spooled = [
        json.loads(line)["msg"]
        for name in sorted(os.listdir(spool_dir))
        if name.endswith(".ndjson")
        for line in (Path(spool_dir) / name).read_text().splitlines()
    ]
    assert spooled == [f"slow {i}" for i in range(5)]
    make_handler(server.url)  # the next handler on this spool resends them
    wait_for(lambda: len(server.records) == 5)
    abandoned.join(10)  # whatever it would send, it sent before it ended
    assert not abandoned.is_alive()
    assert server.messages() == [f"slow {i}" for i in range(5)]
    assert server.duplicates == 0


def test_user_fields_named_uuid_or_like_schema_fields_are_shipped_as_data(
    server: CollectorServer, make_handler: MakeHandler
) -> None:
    log = logger_for(make_handler(server.url))
    same = "a" * 32
    log.info("one", extra={"uuid": same, "level": 99, "host": "h", "kind": "batch"})
    log.info("two", extra={"uuid": same})
    log.info("three", extra={"uuid": "not-hex"})
    wait_for(lambda: len(server.records) == 3)
    one, two, three = (server.records[u] for u in server.order)
    assert (one["uuid"], two["uuid"], three["uuid"]) == (same, same, "not-hex")
    assert one["c2c_uuid"] != two["c2c_uuid"]
    assert (one["level"], one["kind"]) == (6, "")
    assert one["host"] != "h"
    assert one["c2c_extra"] == {"level": 99, "host": "h", "kind": "batch"}
