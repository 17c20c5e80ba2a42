"""Reads are bounded: a time limit on every read, a cap on name prefixes, never a 500 (issue #18)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
import webtest

from c2cwsgiutils.collector.http.api import error_for
from c2cwsgiutils.collector.http.app_state import get_state
from c2cwsgiutils.collector.limits import MAX_NAME_PREFIXES
from c2cwsgiutils.collector.storage import query_timeout
from tests.collector.records import ndjson, wire

# A read that runs for minutes unless something stops it.
_SLOW = {
    "sqlite": "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000)"
    " SELECT count(*) FROM c) > 0",
    "postgresql": "(SELECT pg_sleep(600)) IS NOT NULL",
    "clickhouse": "(SELECT sum(cityHash64(number)) FROM numbers(100000000000)) > 0",
}


def test_a_read_past_the_time_limit_is_cut_short_and_answered_503(
    db_url: str, make_app: Callable[..., webtest.TestApp]
) -> None:
    app = make_app(db_url, query_timeout="0.3")
    app.post("/api/v1/record", ndjson(wire()), headers={"Content-Type": "application/x-ndjson"}, status=201)
    storage = get_state(app.app.registry).storage
    with pytest.raises(sa.exc.OperationalError) as raised:
        storage.count(sa.literal_column(_SLOW[storage.dialect], sa.Boolean))
    assert query_timeout.is_query_timeout(raised.value)
    status, answer, _ = error_for(raised.value, "GET", "/api/v1/count")
    assert status == 503
    assert answer["type"] == "query_timeout"
    # The connection is usable again, and writes are not limited.
    app.post("/api/v1/record", ndjson(wire()), headers={"Content-Type": "application/x-ndjson"}, status=201)
    assert storage.count(sa.true()) == 2


def test_too_many_name_prefixes_are_a_400(db_url: str, make_app: Callable[..., webtest.TestApp]) -> None:
    app = make_app(db_url)
    names = ",".join(f"logger{i}" for i in range(MAX_NAME_PREFIXES + 1))
    response = app.get("/api/v1/record", {"name": names}, status=400)
    assert response.json["parameter"] == "name"
    assert str(MAX_NAME_PREFIXES) in response.json["message"]
    app.get("/api/v1/record", {"name": ",".join(f"logger{i}" for i in range(MAX_NAME_PREFIXES))}, status=200)
