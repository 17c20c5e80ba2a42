"""HEAD/GET /api/v1/record, GET /api/v1/record/{id} and GET /api/v1/request/{id}, on both backends."""

from __future__ import annotations

import webtest

from tests.collector.records import BASE, ndjson, wire

NDJSON = "application/x-ndjson"


def load(app: webtest.TestApp) -> None:
    records = [
        wire("debug early", created=BASE, levelno=10, logger_name="app.db"),
        wire("info", created=BASE + 60, levelno=20, logger_name="app.views", user_id=42),
        wire("timeout warning", created=BASE + 3600, levelno=30, logger_name="celery.worker"),
        wire(
            "error", created=BASE + 7200, levelno=40, logger_name="app.views", request_id="r1", trace_id="t1"
        ),
    ]
    app.post("/api/v1/record", ndjson(*records), content_type=NDJSON, status=201)


def count(app: webtest.TestApp, **params: str) -> int:
    return int(app.head("/api/v1/record", params=params).headers["X-Record-Count"])


def test_count_without_filter_counts_everything(app: webtest.TestApp) -> None:
    load(app)
    assert count(app) == 4


def test_level_filter_is_greater_or_equal(app: webtest.TestApp) -> None:
    load(app)
    assert (count(app, level="30"), count(app, level="WARNING")) == (2, 2)


def test_name_filter_takes_comma_separated_prefixes(app: webtest.TestApp) -> None:
    load(app)
    assert (count(app, name="app.v"), count(app, name="app.db,celery")) == (2, 2)


def test_after_and_before_bound_the_time(app: webtest.TestApp) -> None:
    load(app)
    assert count(app, after="2025-11-22T08:27:00Z", before="2025-11-22T10:00:00Z") == 2


def test_request_and_trace_id_filters(app: webtest.TestApp) -> None:
    load(app)
    assert (count(app, request_id="r1"), count(app, trace_id="t1"), count(app, trace_id="nope")) == (1, 1, 0)


def test_query_language_filter(app: webtest.TestApp) -> None:
    load(app)
    assert count(app, query='level >= WARNING AND message ~ "timeout" AND NOT name:app') == 1


def test_query_syntax_error_is_400_with_the_position(app: webtest.TestApp) -> None:
    response = app.head("/api/v1/record", params={"query": "level >= "}, status=400)
    assert response.status_int == 400
    body = app.get("/api/v1/record", params={"query": "level >= WARNING AND"}, status=400).json
    assert (body["type"], body["position"]) == ("query_syntax_error", 20)


def test_timeline_groups_by_hour(app: webtest.TestApp) -> None:
    load(app)
    headers = app.head("/api/v1/record", params={"group": "hour", "timezone": "UTC"}).headers
    assert (headers["X-Record-Group"], headers["X-Record-Count"]) == (
        "1763798400,1763802000,1763805600",
        "2,1,1",
    )


def test_timeline_days_follow_the_time_zone(app: webtest.TestApp) -> None:
    load(app)
    headers = app.head("/api/v1/record", params={"group": "day", "timezone": "Pacific/Kiritimati"}).headers
    # UTC+14: 08:26Z..09:26Z are 22:26..23:26 local on the 22nd, 10:26Z is 00:26 on the 23rd.
    assert (headers["X-Record-Group"], headers["X-Record-Count"]) == ("1763719200,1763805600", "3,1")


def test_unknown_time_zone_is_400(app: webtest.TestApp) -> None:
    assert (
        app.head("/api/v1/record", params={"group": "day", "timezone": "Mars/Base"}, status=400).status_int
        == 400
    )


def test_range_is_newest_first_from_left_to_right_inclusive(app: webtest.TestApp) -> None:
    load(app)
    records = app.get("/api/v1/record", params={"left": "1", "right": "2"}).json
    assert [record["message"] for record in records] == ["timeout warning", "info"]


def test_range_wider_than_a_page_is_cut(app: webtest.TestApp) -> None:
    load(app)
    assert len(app.get("/api/v1/record", params={"left": "0", "right": "5000"}).json) == 4


def test_get_one_record_with_its_data(app: webtest.TestApp) -> None:
    load(app)
    record_id = app.get("/api/v1/record", params={"query": "data.user_id = 42"}).json[0]["id"]
    record = app.get(f"/api/v1/record/{record_id}").json
    assert (record["message"], record["data"]["user_id"], record["time"]) == (
        "info",
        42,
        "2025-11-22T08:27:40.000000Z",
    )


def test_unknown_record_is_a_json_404(app: webtest.TestApp) -> None:
    assert app.get("/api/v1/record/999999", status=404).json["type"] == "not_found"


def test_unknown_path_is_a_json_404(app: webtest.TestApp) -> None:
    assert app.get("/api/v1/nothing", status=404).json["type"] == "not_found"


def test_wrong_method_is_a_json_405(app: webtest.TestApp) -> None:
    assert app.delete("/api/v1/record", status=405).json["type"] == "method_not_allowed"


def test_request_view_orders_records_across_services_with_the_span_tree(app: webtest.TestApp) -> None:
    records = [
        wire(
            "celery task",
            created=BASE + 2,
            service="worker",
            kind="celery",
            request_id="rq",
            span_id="c",
            parent_span_id="b",
        ),
        wire("request in", created=BASE, service="web", request_id="rq", span_id="a"),
        wire("sql", created=BASE + 1, service="web", request_id="rq", span_id="b", parent_span_id="a"),
        wire("other request", created=BASE + 1, request_id="other", span_id="z"),
    ]
    app.post("/api/v1/record", ndjson(*records), content_type=NDJSON, status=201)
    view = app.get("/api/v1/request/rq").json
    assert [record["message"] for record in view["records"]] == ["request in", "sql", "celery task"]
    spans = {
        span["span_id"]: (span["parent_span_id"], span["children"], span["services"])
        for span in view["spans"]
    }
    assert (view["roots"], spans) == (
        ["a"],
        {"a": (None, ["b"], ["web"]), "b": ("a", ["c"], ["web"]), "c": ("b", [], ["worker"])},
    )


def test_non_ascii_digits_are_not_a_record_id(app: webtest.TestApp) -> None:
    assert app.get("/api/v1/record/%C2%B9", status=404).json["type"] == "not_found"


def test_a_minute_timeline_over_a_long_range_is_a_400_not_huge_headers(app: webtest.TestApp) -> None:
    from c2cwsgiutils.collector.http.api import MAX_TIMELINE_PERIODS

    start = 1_763_798_400
    records = [wire(f"m{i}", created=start + i * 60) for i in range(MAX_TIMELINE_PERIODS + 1)]
    app.post("/api/v1/record", ndjson(*records), headers={"Content-Type": "application/x-ndjson"}, status=201)
    app.head("/api/v1/record", params={"group": "minute"}, status=400)
    headers = app.head("/api/v1/record", params={"group": "hour"}).headers
    assert len(headers["X-Record-Group"]) < 1000
