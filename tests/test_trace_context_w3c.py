"""W3C Trace Context level 2, the cases of the official test harness (``w3c/trace-context``, ``test/``).

The harness is not on a package registry, so its cases are written here from the specification:
each one sends headers to a real service (waitress, in its own process) that calls us back with
requests, urllib3 or httpx, and checks the ``traceparent``/``tracestate`` of that call. The
service is ``tests/apps/trace_context_service.py``, the one the official harness is run against
(see docs/request-tracking.md). The same cases also run in-process against ``open_context``.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from c2cwsgiutils import context, outgoing, spans
from c2cwsgiutils.request_tracking import DEFAULT_HEADERS, TrackingSettings, open_context
from tests.helpers import free_port, start_process, stop_process, wait_port

TRACE = "12345678901234567890123456789012"
PARENT = "1234567890123456"
TP = f"00-{TRACE}-{PARENT}-01"
TP0 = f"00-{TRACE}-{PARENT}-00"
TRACEPARENT_FORMAT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})\Z")
KEY_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
VALUE_CHARS = "".join(map(chr, [*range(0x20, 0x2C), *range(0x2D, 0x3D), *range(0x3E, 0x7F)]))
MEMBERS_1_30 = [",".join(f"bar{i:02}={i:02}" for i in range(start, start + 10)) for start in (1, 11, 21)]


@dataclass(frozen=True)
class Case:
    """Headers sent (in order, repeats allowed); ``keep``: the outgoing trace id is the incoming
    one; ``tracestate``: the outgoing one ("" for none); ``flags``: the outgoing trace-flags."""

    name: str
    headers: tuple[tuple[str, str], ...]
    keep: bool
    tracestate: str = ""
    flags: str | None = None


def case(
    name: str, headers: list[tuple[str, str]], keep: bool, tracestate: str = "", flags: str | None = None
) -> Any:
    return pytest.param(Case(name, tuple(headers), keep, tracestate, flags), id=name)


def _ts(*values: str) -> list[tuple[str, str]]:
    return [("traceparent", TP0)] + [("tracestate", value) for value in values]


CASES = [
    # traceparent
    case("both-missing", [], False),
    case("traceparent-only", [("traceparent", TP)], True, flags="01"),
    case(
        "traceparent-duplicated",
        [("traceparent", f"00-{TRACE[:-1]}1-{PARENT}-01"), ("traceparent", TP)],
        False,
    ),
    case("name-trace-parent", [("trace-parent", TP)], False),
    case("name-casing-1", [("TraceParent", TP)], True),
    case("name-casing-2", [("TrAcEpArEnT", TP)], True),
    case("name-casing-3", [("TRACEPARENT", TP)], True),
    case("version-00-trailing-dot", [("traceparent", TP + ".")], False),
    case("version-00-extra-field", [("traceparent", TP + "-what-the-future-will-be-like")], False),
    case("version-cc", [("traceparent", "cc" + TP[2:])], True, flags="01"),
    case("version-cc-extra-field", [("traceparent", "cc" + TP[2:] + "-what-the-future-will-be-like")], True),
    case(
        "version-cc-bad-separator", [("traceparent", "cc" + TP[2:] + ".what-the-future-will-be-like")], False
    ),
    case("version-ff", [("traceparent", "ff" + TP[2:])], False),
    case("version-illegal-1", [("traceparent", ".0" + TP[2:])], False),
    case("version-illegal-2", [("traceparent", "0." + TP[2:])], False),
    case("version-too-long-1", [("traceparent", "000" + TP[2:])], False),
    case("version-too-long-2", [("traceparent", "0000" + TP[2:])], False),
    case("version-too-short", [("traceparent", "0" + TP[2:])], False),
    case("trace-id-all-zero", [("traceparent", f"00-{'0' * 32}-{PARENT}-01")], False),
    case("trace-id-illegal-1", [("traceparent", f"00-.{TRACE[1:]}-{PARENT}-01")], False),
    case("trace-id-illegal-2", [("traceparent", f"00-{TRACE[:-1]}.-{PARENT}-01")], False),
    case("trace-id-upper-case", [("traceparent", f"00-{'A' * 32}-{PARENT}-01")], False),
    case("trace-id-too-long", [("traceparent", f"00-{TRACE}3-{PARENT}-01")], False),
    case("trace-id-too-short", [("traceparent", f"00-{TRACE[:-1]}-{PARENT}-01")], False),
    case("parent-id-all-zero", [("traceparent", f"00-{TRACE}-{'0' * 16}-01")], False),
    case("parent-id-illegal-1", [("traceparent", f"00-{TRACE}-.{PARENT[1:]}-01")], False),
    case("parent-id-illegal-2", [("traceparent", f"00-{TRACE}-{PARENT[:-1]}.-01")], False),
    case("parent-id-too-long", [("traceparent", f"00-{TRACE}-{PARENT}7-01")], False),
    case("parent-id-too-short", [("traceparent", f"00-{TRACE}-{PARENT[:-1]}-01")], False),
    case("flags-illegal-1", [("traceparent", f"00-{TRACE}-{PARENT}-.0")], False),
    case("flags-illegal-2", [("traceparent", f"00-{TRACE}-{PARENT}-0.")], False),
    case("flags-too-long", [("traceparent", f"00-{TRACE}-{PARENT}-001")], False),
    case("flags-too-short", [("traceparent", f"00-{TRACE}-{PARENT}-1")], False),
    case("ows-leading-space", [("traceparent", " " + TP)], True),
    case("ows-leading-tab", [("traceparent", "\t" + TP)], True),
    case("ows-trailing-space", [("traceparent", TP + " ")], True),
    case("ows-trailing-tab", [("traceparent", TP + "\t")], True),
    case("ows-both", [("traceparent", "\t " + TP + " \t")], True),
    # level 2: the random flag is kept, unknown flags are set to zero
    case("random-flag-kept", [("traceparent", f"00-{TRACE}-{PARENT}-02")], True, flags="02"),
    case("random-and-sampled-kept", [("traceparent", f"00-{TRACE}-{PARENT}-03")], True, flags="03"),
    case("not-sampled-kept", [("traceparent", TP0)], True, flags="00"),
    case("unknown-flags-zeroed", [("traceparent", f"00-{TRACE}-{PARENT}-ff")], True, flags="03"),
    case("new-trace-is-random", [], False, flags="03"),
    # tracestate
    case("tracestate-without-traceparent", [("tracestate", "foo=1")], False),
    case(
        "tracestate-with-invalid-traceparent",
        [("traceparent", "ff" + TP[2:]), ("tracestate", "foo=1")],
        False,
    ),
    case("tracestate-inherited", _ts("foo=1,bar=2"), True, "foo=1,bar=2"),
    case("tracestate-name-trace-state", [("traceparent", TP0), ("trace-state", "foo=1")], True),
    case("tracestate-casing-1", [("traceparent", TP0), ("TraceState", "foo=1")], True, "foo=1"),
    case("tracestate-casing-2", [("traceparent", TP0), ("TrAcEsTaTe", "foo=1")], True, "foo=1"),
    case("tracestate-casing-3", [("traceparent", TP0), ("TRACESTATE", "foo=1")], True, "foo=1"),
    case("tracestate-empty", _ts(""), True),
    case("tracestate-empty-after", _ts("foo=1", ""), True, "foo=1"),
    case("tracestate-empty-before", _ts("", "foo=1"), True, "foo=1"),
    case("tracestate-empty-members", _ts("foo=1,, ,\t,bar=2"), True, "foo=1,bar=2"),
    case(
        "tracestate-several-headers",
        _ts("foo=1,bar=2", "rojo=1,congo=2", "baz=3"),
        True,
        "foo=1,bar=2,rojo=1,congo=2,baz=3",
    ),
    # duplicate keys: passed on as received (the harness accepts that or one dropped)
    case("tracestate-duplicate-same", _ts("foo=1,foo=1"), True, "foo=1,foo=1"),
    case("tracestate-duplicate-different", _ts("foo=1,foo=2"), True, "foo=1,foo=2"),
    case("tracestate-duplicate-headers", _ts("foo=1", "foo=2"), True, "foo=1,foo=2"),
    case("tracestate-all-characters", _ts(f"{KEY_CHARS}={VALUE_CHARS}"), True, f"{KEY_CHARS}={VALUE_CHARS}"),
    case(
        "tracestate-all-characters-vendor",
        _ts(f"{KEY_CHARS}@a-z0-9_-*/={VALUE_CHARS}"),
        True,
        f"{KEY_CHARS}@a-z0-9_-*/={VALUE_CHARS}",
    ),
    case("tracestate-leading-spaces-of-value-kept", _ts("foo=  1"), True, "foo=  1"),
    case("tracestate-ows-1", _ts("foo=1 \t , \t bar=2, \t baz=3"), True, "foo=1,bar=2,baz=3"),
    case("tracestate-ows-2", _ts("foo=1\t \t,\t \tbar=2,\t \tbaz=3"), True, "foo=1,bar=2,baz=3"),
    case("tracestate-ows-3", _ts(" foo=1"), True, "foo=1"),
    case("tracestate-ows-4", _ts("\tfoo=1"), True, "foo=1"),
    case("tracestate-ows-5", _ts("foo=1 "), True, "foo=1"),
    case("tracestate-ows-6", _ts("foo=1\t"), True, "foo=1"),
    case("tracestate-ows-7", _ts("\t foo=1 \t"), True, "foo=1"),
    case("tracestate-key-space", _ts("foo =1"), True),
    case("tracestate-key-upper-case", _ts("FOO=1"), True),
    case("tracestate-key-dot", _ts("foo.bar=1"), True),
    case("tracestate-key-at-end", _ts("foo@=1,bar=2"), True, "foo@=1,bar=2"),
    case("tracestate-key-at-start", _ts("@foo=1,bar=2"), True),
    case("tracestate-key-two-ats", _ts("foo@@bar=1,bar=2"), True, "foo@@bar=1,bar=2"),
    case("tracestate-key-ats-apart", _ts("foo@bar@baz=1,bar=2"), True, "foo@bar@baz=1,bar=2"),
    case(
        "tracestate-32-members",
        _ts(*MEMBERS_1_30, "bar31=31,bar32=32"),
        True,
        ",".join([*MEMBERS_1_30, "bar31=31,bar32=32"]),
    ),
    case("tracestate-33-members", _ts(*MEMBERS_1_30, "bar31=31,bar32=32,bar33=33"), True),
    case("tracestate-key-256", _ts("foo=1", "z" * 256 + "=1"), True, "foo=1," + "z" * 256 + "=1"),
    case("tracestate-key-257", _ts("foo=1", "z" * 257 + "=1"), True),
    case(
        "tracestate-vendor-key-1",
        _ts("foo=1", "t" * 241 + "@" + "v" * 14 + "=1"),
        True,
        "foo=1," + "t" * 241 + "@" + "v" * 14 + "=1",
    ),
    case("tracestate-vendor-key-2", _ts("foo=1", "t" * 242 + "@v=1"), True, "foo=1," + "t" * 242 + "@v=1"),
    case("tracestate-vendor-key-3", _ts("foo=1", "t@" + "v" * 15 + "=1"), True, "foo=1,t@" + "v" * 15 + "=1"),
    case("tracestate-value-with-equals", _ts("foo=bar=baz"), True),
    case("tracestate-value-empty", _ts("foo=,bar=3"), True),
    case("tracestate-value-256", _ts("foo=" + "v" * 256), True, "foo=" + "v" * 256),
    case("tracestate-value-257", _ts("foo=" + "v" * 257), True),
    # over 512 characters: truncated by whole members, those over 128 characters first
    case(
        "tracestate-truncated-long-members-first",
        _ts("a=" + "1" * 200, "b=" + "2" * 100, "c=" + "3" * 200, "d=" + "4" * 100),
        True,
        "a=" + "1" * 200 + ",b=" + "2" * 100 + ",d=" + "4" * 100,
    ),
    case(
        "tracestate-truncated-from-the-end",
        _ts(*(f"k{i:02}=" + "v" * 60 for i in range(10))),
        True,
        ",".join(f"k{i:02}=" + "v" * 60 for i in range(7)),
    ),
]


def _check(sent: Case, received: list[tuple[str, str]]) -> None:
    traceparents = [value for name, value in received if name.lower() == "traceparent"]
    assert len(traceparents) == 1, received
    match = TRACEPARENT_FORMAT.match(traceparents[0])
    assert match is not None, traceparents[0]
    trace_id, parent_id, flags = match.groups()
    assert trace_id != "0" * 32
    assert parent_id != "0" * 16
    assert parent_id != PARENT
    if sent.keep:
        assert trace_id == TRACE
    else:
        assert trace_id != TRACE
        assert trace_id != TRACE[:-1] + "1"
    if sent.flags is not None:
        assert flags == sent.flags
    tracestates = [value for name, value in received if name.lower() == "tracestate"]
    assert tracestates == ([sent.tracestate] if sent.tracestate else [])
    assert len(sent.tracestate) <= 512


# ---- in process: open_context() and the headers of an outgoing call --------------------------


def _environ(headers: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    # As WSGI servers do: several fields of one name are joined with commas, OWS trimmed.
    environ: dict[str, Any] = {}
    for name, raw in headers:
        key = "HTTP_" + name.upper().replace("-", "_")
        if "." in key:
            continue
        value = raw.strip(" \t")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


@pytest.mark.parametrize("sent", CASES)
def test_in_process(sent: Case) -> None:
    headers = TrackingSettings(
        tuple(("HTTP_" + n.upper().replace("-", "_"), n) for n in DEFAULT_HEADERS)
    ).headers
    ctx, _ = open_context(_environ(sent.headers), headers)
    token = context.start(ctx)
    try:
        outgoing_headers = outgoing.outgoing_headers()
    finally:
        context.restore(token)
    _check(sent, [(name, value) for name, value in outgoing_headers.items() if name != "X-Request-ID"])


# ---- end to end: the harness's service, under waitress, calling back with each client --------


class _Callbacks(BaseHTTPRequestHandler):
    received: dict[str, list[tuple[str, str]]] = {}

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received[self.path] = list(self.headers.items())
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture(scope="module")
def callbacks() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Callbacks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(
    scope="module",
    params=[(stack, client) for stack in ("pyramid", "wsgi") for client in ("requests", "urllib3", "httpx")],
    ids="-".join,
)
def service(request: pytest.FixtureRequest) -> Iterator[int]:
    stack, client = request.param
    port = free_port()
    process = start_process(
        ["python", "-m", "waitress", f"--listen=127.0.0.1:{port}", "tests.apps.trace_context_service:app"],
        env={"W3C_STACK": stack, "W3C_CLIENT": client},
    )
    try:
        wait_port(port, 60, process)
        yield port
    finally:
        stop_process(process)


@pytest.mark.parametrize("sent", CASES)
def test_end_to_end(service: int, callbacks: str, sent: Case) -> None:
    path = f"/{uuid.uuid4().hex}"
    body = json.dumps([{"url": callbacks + path, "arguments": []}]).encode()
    connection = http.client.HTTPConnection("127.0.0.1", service, timeout=30)
    try:
        connection.putrequest("POST", "/test")
        for name, value in sent.headers:
            connection.putheader(name, value)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        response.read()
        assert response.status == 200
    finally:
        connection.close()
    # The service answers after its call: the callback is already recorded.
    _check(
        sent, [(n, v) for n, v in _Callbacks.received.pop(path) if n.lower() in ("traceparent", "tracestate")]
    )


def test_each_call_of_a_request_is_a_new_span_of_its_trace(service: int, callbacks: str) -> None:
    paths = [f"/{uuid.uuid4().hex}" for _ in range(3)]
    body = json.dumps([{"url": callbacks + path, "arguments": []} for path in paths]).encode()
    connection = http.client.HTTPConnection("127.0.0.1", service, timeout=30)
    try:
        connection.request("POST", "/test", body, {"traceparent": TP, "Content-Type": "application/json"})
        assert connection.getresponse().status == 200
    finally:
        connection.close()
    parents = [{n.lower(): v for n, v in _Callbacks.received.pop(path)}["traceparent"] for path in paths]
    assert {parent.split("-")[1] for parent in parents} == {TRACE}
    assert len({parent.split("-")[2] for parent in parents}) == 3


@pytest.fixture
def recorded_spans() -> Iterator[None]:
    logger = logging.getLogger("c2cwsgiutils.spans")
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    yield
    logger.setLevel(level)
    logger.propagate = propagate


@pytest.mark.parametrize("sample", [None, 0.0])  # a span recorded, and one sampled out
def test_spans_keep_the_random_flag_and_the_tracestate(recorded_spans: None, sample: float | None) -> None:
    with (
        context.bind(request_id="r", trace_id=TRACE, span_id=PARENT, random_trace_id=False, tracestate="a=1"),
        spans.span("work", sample=sample),
    ):
        ctx = context.current()
        assert (ctx.random_trace_id, ctx.tracestate, ctx.span_path) == (False, "a=1", "work")
        assert outgoing.outgoing_headers()["traceparent"].endswith("-01" if sample is None else "-00")
