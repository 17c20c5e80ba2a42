"""Property tests: random and malformed bodies, headers and queries never make the collector answer 500."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import webtest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from c2cwsgiutils.collector.http.app import create_app
from c2cwsgiutils.collector.http.app_state import get_state
from tests.collector.conftest import CHDB_MISSING
from tests.collector.records import wire

CONTENT_TYPES = st.sampled_from(
    [
        "application/x-ndjson",
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "",
        "application/x-ndjson; charset=latin1",
    ]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
RECORD_KEYS = st.sampled_from(
    [
        "uuid",
        "c2c_uuid",
        "c2c_extra",
        "message",
        "created",
        "timestamp",
        "levelno",
        "level",
        "level_name",
        "msg",
        "logger_name",
        "request_id",
        "span_id",
        "host",
        "extra",
        "name",
        "args",
    ]
)
RECORDS = st.dictionaries(RECORD_KEYS, JSON_VALUES, max_size=8)
LINES = st.one_of(
    RECORDS.map(lambda record: json.dumps(record).encode()),
    st.binary(max_size=60),
    st.text(max_size=60).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.just(json.dumps(wire()).encode()),
)
BODIES = st.lists(LINES, max_size=6).map(b"\n".join)
QUERY_ALPHABET = st.sampled_from(
    [
        *"()=!<>~:\"'\\ .-_0123456789",
        *("level", "data.x", "message", "name", "AND", "OR", "NOT", "time", "id", "null", "true"),
        *("1e999", "\x00", "é", "WARNING", "'x'"),
    ]
)
QUERIES = st.lists(QUERY_ALPHABET, max_size=25).map(" ".join) | st.text(max_size=60)
PARAMS = st.dictionaries(
    st.sampled_from(
        [
            "after",
            "before",
            "level",
            "name",
            "request_id",
            "trace_id",
            "left",
            "right",
            "group",
            "timezone",
            "query",
        ]
    ),
    st.text(max_size=30),
    max_size=4,
)
PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "clickhouse"])
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[webtest.TestApp]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('props') / 'p.sqlite'}"
    elif request.param == "clickhouse":
        pytest.importorskip("chdb", reason=CHDB_MISSING)
        url = f"chdb://?database=c2c_props_{uuid.uuid4().hex[:12]}"
    else:
        url = request.getfixturevalue("pg_url")
        from c2cwsgiutils.collector.storage.backends import migrate

        migrate(url)
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sa.text("TRUNCATE c2c_log_record RESTART IDENTITY"))
        engine.dispose()
    test_app = webtest.TestApp(create_app({"c2c.collector.db_url": url}))
    test_app.post("/api/v1/record", json.dumps(wire(user_id=1)), content_type="application/json", status=201)
    yield test_app
    get_state(test_app.app.registry).close()


@PROPERTY_SETTINGS
@given(body=BODIES, content_type=CONTENT_TYPES, gzip_header=st.booleans())
def test_random_bodies_never_give_a_server_error(
    app: webtest.TestApp, body: bytes, content_type: str, gzip_header: bool
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    if gzip_header:
        headers["Content-Encoding"] = "gzip"
    response = app.post("/api/v1/record", body, headers=headers, expect_errors=True)
    assert response.status_int < 500, response.body


@PROPERTY_SETTINGS
@given(query=QUERIES)
def test_random_queries_never_give_a_server_error(app: webtest.TestApp, query: str) -> None:
    response = app.get("/api/v1/record", params={"query": query}, expect_errors=True)
    assert response.status_int < 500, (query, response.body)
    if response.status_int == 400:
        assert response.json["type"] in ("query_syntax_error", "invalid_parameter")


@PROPERTY_SETTINGS
@given(params=PARAMS, method=st.sampled_from(["GET", "HEAD"]))
def test_random_parameters_never_give_a_server_error(
    app: webtest.TestApp, params: dict[str, str], method: str
) -> None:
    if method == "HEAD":
        response = app.head("/api/v1/record", params=params, expect_errors=True)
    else:
        response = app.get("/api/v1/record", params=params, expect_errors=True)
    assert response.status_int < 500, (params, response.body)


@PROPERTY_SETTINGS
@given(record_id=st.text(max_size=30), request_id=st.text(max_size=30))
def test_random_paths_never_give_a_server_error(
    app: webtest.TestApp, record_id: str, request_id: str
) -> None:
    from urllib.parse import quote

    assert app.get(f"/api/v1/record/{quote(record_id, safe='')}", expect_errors=True).status_int < 500
    assert app.get(f"/api/v1/request/{quote(request_id, safe='')}", expect_errors=True).status_int < 500
