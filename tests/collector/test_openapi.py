"""The OpenAPI document describes every endpoint, and schemathesis finds no server error or drift."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import webtest
from hypothesis import HealthCheck, given, settings

from c2cwsgiutils.collector.http.app import create_app
from c2cwsgiutils.collector.http.app_state import get_state
from tests.collector.records import ndjson, wire


def _span_events() -> list[dict[str, object]]:
    """A request's root span event and one SQL span event (what /api/v1/requests and routes read)."""
    common = {"logger_name": "c2cwsgiutils.spans", "request_id": "r1", "status": "ok"}
    return [
        wire(
            "span sql ok",
            span_id="s3",
            parent_span_id="s1",
            span_name="sql",
            span_kind="sql",
            sql="SELECT ?",
            duration_ms=1.5,
            **common,
        ),
        wire(
            "span request ok",
            span_id="s1",
            span_name="request",
            method="GET",
            route="x",
            status_code=200,
            duration_ms=3.0,
            **common,
        ),
    ]


@pytest.fixture(scope="module")
def collector_wsgi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    path: Path = tmp_path_factory.mktemp("openapi") / "o.sqlite"
    app = create_app({"c2c.collector.db_url": f"sqlite:///{path}"})
    webtest.TestApp(app).post(
        "/api/v1/record",
        ndjson(
            wire("a", request_id="r1", span_id="s1"),
            wire("b", request_id="r1", span_id="s2", parent_span_id="s1"),
            *_span_events(),
        ),
        content_type="application/x-ndjson",
    )
    yield app
    get_state(app.registry).close()


OPERATIONS = [
    ("GET", "/api/v1/record"),
    ("HEAD", "/api/v1/record"),
    ("POST", "/api/v1/record"),
    ("GET", "/api/v1/record/{id}"),
    ("GET", "/api/v1/request/{request_id}"),
    ("GET", "/api/v1/requests"),
    ("GET", "/api/v1/routes"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/status"),
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_api_conforms_to_its_openapi_document(collector_wsgi: object, method: str, path: str) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", collector_wsgi)
    operation = schema[path][method]

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def check(case: schemathesis.Case[Any]) -> None:
        # Every check but "schema-valid data is accepted": a parameter typed as a string (after,
        # level, query ...) has its own syntax that the document describes in words, not as a regex.
        # Schemathesis's WSGI client offers gzip (requests' default headers) but does not decode it.
        case.call_and_validate(
            headers={"Accept-Encoding": "identity"},
            excluded_checks=[schemathesis.checks.positive_data_acceptance],
        )

    check()
