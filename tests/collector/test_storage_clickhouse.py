"""What the ClickHouse backend does beyond the cross-backend tests: URLs, ids, idempotency, the
schema (partitions, sort key, skipping indexes, the request window view) and retention."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from c2cwsgiutils.collector.intake import ingest
from c2cwsgiutils.collector.query.filters import build_filter
from c2cwsgiutils.collector.storage.backends import migrate, open_storage
from c2cwsgiutils.collector.storage.clickhouse_sql import compile_sql, literal
from tests.collector.conftest import CHDB_MISSING
from tests.collector.records import BASE, wire

pytest.importorskip("chdb", reason=CHDB_MISSING)

from c2cwsgiutils.collector.storage.clickhouse import (
    WINDOW_TABLE,
    ClickHouseStorage,
    _Ids,
    parse_url,
)


@pytest.fixture
def storage(chdb_url: str) -> Iterator[ClickHouseStorage]:
    opened = open_storage(chdb_url)
    assert isinstance(opened, ClickHouseStorage)
    migrate(opened)
    yield opened
    opened.dispose()


def _row(message: str = "hello", **fields: object) -> tuple[object, ...]:
    return ingest.record_to_row(wire(message, **fields), time.time())


def test_urls_name_a_server_or_an_embedded_directory() -> None:
    server = parse_url("clickhouse://writer:p%40ss@ch.example:9000/logs?node_id=7")
    assert (server.embedded, server.host, server.port, server.username, server.password) == (
        False,
        "ch.example",
        9000,
        "writer",
        "p@ss",
    )
    assert (server.database, server.node_id, server.secure) == ("logs", 7, False)
    assert (parse_url("clickhouses://h").port, parse_url("clickhouses://h").secure) == (8443, True)
    assert parse_url("chdb:///var/lib/collector").path == "/var/lib/collector"
    assert parse_url("chdb://?database=x").path is None
    assert parse_url("chdb://?database=x").database == "x"
    with pytest.raises(ValueError, match="three slashes"):
        parse_url("chdb://relative/dir")
    with pytest.raises(ValueError, match="node_id"):
        parse_url("clickhouse://h/db?node_id=32")


def test_ids_increase_and_never_repeat_past_256_in_one_millisecond() -> None:
    ids = _Ids(node=5)
    taken = ids.take(10_000) + ids.take(1) + ids.take(3)
    assert taken == sorted(taken)
    assert len(set(taken)) == len(taken)
    assert all((value >> 8) & 0x1F == 5 for value in taken)
    # Exact as JavaScript numbers (the UI reads ids from JSON) until 2058.
    assert max(taken) < 2**53
    assert (2**40 + 1_704_067_200_000) / 1000 > 2_800_000_000  # 2058-09


def test_literals_escape_quotes_and_backslashes() -> None:
    assert literal("a'b\\c") == "'a\\'b\\\\c'"
    assert literal(None) == "NULL"
    assert literal(2.5) == "2.5"
    with pytest.raises(ValueError, match="finite"):
        literal(float("inf"))


def test_a_resent_record_is_stored_once_and_answers_its_first_id(storage: ClickHouseStorage) -> None:
    row = _row(c2c_uuid="a" * 32)
    first = storage.insert([row])
    again = storage.insert([row])
    assert (first.stored, again.stored, again.duplicates) == (1, 0, 1)
    assert again.first_id == first.first_id
    batch = [row, _row("other", c2c_uuid="b" * 32), _row("other", c2c_uuid="b" * 32), _row("no uuid")]
    assert storage.insert(batch)[:2] == (2, 2)  # b once, the record without uuid once
    assert storage.count(build_filter({}, "clickhouse")) == 3


def test_concurrent_inserts_store_every_record_once(storage: ClickHouseStorage) -> None:
    rows = [_row(f"m{i}", c2c_uuid=f"{i:032x}") for i in range(200)]
    errors: list[BaseException] = []

    def send(part: list[tuple[object, ...]]) -> None:
        try:
            storage.insert(part)
        except BaseException as exc:
            errors.append(exc)

    # Every thread sends every row (retries from several clients): each is stored once.
    threads = [threading.Thread(target=send, args=(rows[i:] + rows[:i],)) for i in range(0, 200, 40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert storage.count(build_filter({}, "clickhouse")) == 200
    ids = [row["id"] for row in storage.range(build_filter({}, "clickhouse"), 0, 500)]
    assert len(set(ids)) == 200


def test_the_schema_partitions_by_day_sorts_by_service_and_time(storage: ClickHouseStorage) -> None:
    ((partition_key, sorting_key),) = storage.client.select(
        f"SELECT partition_key, sorting_key FROM system.tables WHERE database = {literal(storage.database)} "
        "AND name = 'c2c_log_record'"
    )
    assert (partition_key, sorting_key) == ("toDate(fromUnixTimestamp64Micro(time_us))", "service, time_us")
    indexes = storage.client.select(
        "SELECT name, type_full FROM system.data_skipping_indices WHERE database = "
        f"{literal(storage.database)} AND table = 'c2c_log_record' ORDER BY name"
    )
    assert dict(indexes) == {
        "ix_id": "minmax",
        "ix_message": "tokenbf_v1(32768, 3, 0)",
        "ix_request_id": "bloom_filter(0.001)",
        "ix_trace_id": "bloom_filter(0.001)",
        "ix_uuid": "bloom_filter(0.001)",
    }
    codecs = dict(
        storage.client.select(
            "SELECT name, compression_codec FROM system.columns WHERE database = "
            f"{literal(storage.database)} AND table = 'c2c_log_record'"
        )
    )
    assert codecs["time_us"] == "CODEC(DoubleDelta, ZSTD(1))"


def test_the_window_table_gives_the_time_span_of_a_request_and_its_trace(storage: ClickHouseStorage) -> None:
    trace = "1" * 32
    storage.insert(
        [
            ingest.record_to_row(wire("a", request_id="r-9", trace_id=trace, created=BASE + 5), 0),
            ingest.record_to_row(wire("b", request_id="r-9", trace_id=trace, created=BASE + 65), 0),
            ingest.record_to_row(wire("otel", trace_id=trace, created=BASE + 70), 0),
            ingest.record_to_row(wire("other", request_id="r-8", created=BASE + 500), 0),
        ]
    )
    assert storage._window(["r:r-9"]) == (int((BASE + 5) * 1e6), int((BASE + 65) * 1e6))
    assert storage._window([f"t:{trace}"]) == (int((BASE + 5) * 1e6), int((BASE + 70) * 1e6))
    assert storage._window(["r:nope"]) is None
    assert [row["message"] for row in storage.by_request("r-9", 10)] == ["a", "b", "otel"]
    assert storage.by_request("nope", 10) == []
    views = storage.client.select(
        f"SELECT name FROM system.tables WHERE database = {literal(storage.database)} "
        f"AND name LIKE '{WINDOW_TABLE}%' ORDER BY name"
    )
    assert [name for (name,) in views] == [
        WINDOW_TABLE,
        f"{WINDOW_TABLE}_request_mv",
        f"{WINDOW_TABLE}_trace_mv",
    ]


def test_retention_drops_old_days_and_deletes_the_rest(storage: ClickHouseStorage) -> None:
    day = 86_400
    storage.insert([ingest.record_to_row(wire(f"d{i}", created=BASE + i * day / 2), 0) for i in range(6)])
    cutoff_us = int((BASE + 1.25 * day) * 1e6)  # keeps the records of 1.5, 2 and 2.5 days
    assert storage.delete_older_than(cutoff_us, 1000) == 3
    assert storage.delete_older_than(cutoff_us, 1000) == 0
    assert sorted(row["message"] for row in storage.range(build_filter({}, "clickhouse"), 0, 10)) == [
        "d3",
        "d4",
        "d5",
    ]


def test_a_count_filter_compiles_to_count_if() -> None:
    import sqlalchemy as sa

    from c2cwsgiutils.collector.storage.schema import record_table

    sql = compile_sql(sa.select(sa.func.count().filter(record_table.c.level > 1)))
    assert "countIf(c2c_log_record.level > 1)" in sql


def test_ids_with_sql_words_and_quotes_are_only_values(storage: ClickHouseStorage) -> None:
    odd = "x' SETTINGS max_threads = 1 --\\"
    storage.insert([_row("odd", request_id=odd, trace_id=odd)])
    assert [row["message"] for row in storage.by_request(odd, 10)] == ["odd"]
    assert storage.count(build_filter({"request_id": odd}, "clickhouse")) == 1


class _FakeServer:
    """What clickhouse_connect.get_client returns, recording the calls (no server here)."""

    def __init__(self, **options: object) -> None:
        self.options = options
        self.calls: list[tuple[str, tuple[object, ...], dict[str, object]]] = []

    def query(self, sql: str, parameters: object = None) -> object:
        self.calls.append(("query", (sql,), {"parameters": parameters}))
        return type("QueryResult", (), {"result_rows": [("1" * 32, 7)] if "uuid IN" in sql else [(1,)]})()

    def command(self, sql: str) -> None:
        self.calls.append(("command", (sql,), {}))

    def insert(self, table: str, rows: object, **options: object) -> None:
        self.calls.append(("insert", (table, rows), options))

    def close(self) -> None:
        self.calls.append(("close", (), {}))


def test_a_server_gets_async_inserts_with_waiting_and_uuids_as_a_parameter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import clickhouse_connect

    servers: list[_FakeServer] = []

    def get_client(**options: object) -> _FakeServer:
        servers.append(_FakeServer(**options))
        return servers[-1]

    monkeypatch.setattr(clickhouse_connect, "get_client", get_client)
    storage = open_storage("clickhouses://writer:secret@ch.example/logs?max_memory_usage=1000000000")
    (server,) = servers
    assert server.options["secure"] is True
    assert (server.options["port"], server.options["database"]) == (8443, "logs")
    assert server.options["settings"] == {"max_memory_usage": "1000000000"}
    result = storage.insert([_row(c2c_uuid="1" * 32), _row(c2c_uuid="2" * 32)])
    assert result[:2] == (1, 1)  # the first was there (id 7)
    lookup = next(call for call in server.calls if call[0] == "query")
    assert "uuid IN {uuids:Array(String)}" in str(lookup[1][0])
    assert lookup[2]["parameters"] == {"uuids": ["1" * 32, "2" * 32]}
    (insert,) = [call for call in server.calls if call[0] == "insert"]
    assert insert[1][0] == "c2c_log_record"
    assert insert[2]["database"] == "logs"
    assert insert[2]["settings"] == {"async_insert": 1, "wait_for_async_insert": 1}
    stored = insert[1][1]
    assert isinstance(stored, list)
    assert [row[1] for row in stored] == ["2" * 32]
    storage.dispose()


def test_a_second_chdb_directory_in_the_process_is_refused_in_a_sentence(
    storage: ClickHouseStorage, tmp_path: Path
) -> None:
    # chdb runs one data directory per process (the fixture's is in memory).
    with pytest.raises(ValueError, match="one chdb directory per process"):
        open_storage(f"chdb://{tmp_path / 'clickhouse'}")
