"""What a request did, from its records: span labels, SQL totals, repeated statements, slowest spans.

The span events (records with a ``span_name`` and a ``duration_ms``, as :mod:`c2cwsgiutils.spans`
and the SQL spans emit them) name their span; :func:`summarise` copies what they say onto the spans
of :func:`c2cwsgiutils.collector.http.api.span_tree` and sums up the request:

- each span gets ``name``, ``span_kind`` (``server``, ``sql``, ``client``, ``task`` or ``internal``),
  ``label`` (``GET items_view 200``, the SQL statement, ``GET http://host/path 200`` ...),
  ``duration_ms``, ``start`` (POSIX seconds), ``status``, ``error_type`` and ``event_id`` (the
  record of its event);
- ``sql``: the number of SQL statements, their total time, whether the per-request cap was hit;
- ``repeated``: statements run at least :data:`REPEATED_AT_LEAST` times (an N+1 pattern), most
  repeated first, with their count and total time;
- ``slowest``: the :data:`SLOWEST` longest spans (the request's own root excluded when it has
  children), longest first; those of them that took at least :data:`SLOW_SHARE` of the request's
  duration also get ``slow: true`` (the ones to look at first);
- ``critical_path``: the ids of the spans on the request's critical path (see :func:`critical_path`),
  each of them marked ``critical: true`` with ``critical_ms`` (its own time on the path) and
  ``critical_segments`` (``[start, end]`` pairs, POSIX seconds);
- ``complete``: whether every span of the request has its event, every span but a web request or
  a task has its parent, and every task enqueued has its span (``false``: a span is still running
  or its records are still on their way), ``null`` when no span has an event (span events off).
"""

from __future__ import annotations

import datetime
from typing import Any

__all__ = [
    "REPEATED_AT_LEAST",
    "SLOWEST",
    "SLOW_SHARE",
    "critical_path",
    "event_fields",
    "label",
    "span_kind",
    "summarise",
]

REPEATED_AT_LEAST = 3
"""A statement run this many times in one request is flagged as repeated (N+1)."""
SLOWEST = 5
"""How many of the slowest spans are listed."""
SLOW_SHARE = 0.05
"""A listed span is highlighted (``slow``) when it took at least this share of the request."""
MAX_LABEL = 160


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def span_kind(data: dict[str, Any]) -> str:
    """The kind of a span from its event's fields (``span_kind`` when the emitter says it)."""
    kind = data.get("span_kind")
    if isinstance(kind, str) and kind:
        return kind
    if "sql" in data and data.get("span_name") in ("sql", "sql capped"):
        return "sql"
    if "url" in data and "method" in data:
        return "client"
    if data.get("span_name") == "request" or ("status_code" in data and "route" in data):
        return "server"
    if data.get("task_name") or data.get("task"):
        return "task"
    return "internal"


def label(data: dict[str, Any], kind: str) -> str:
    """A short human label of a span from its event's fields."""
    name = str(data.get("span_name") or "span")
    if kind == "sql":
        if name == "sql capped":
            return f"SQL cap of {data.get('sql_cap', '?')} statements reached: later ones not recorded"
        return _short(str(data.get("sql") or name))
    status = data.get("status_code")
    tail = f" {status}" if status not in (None, "") else ""
    if kind == "server":
        method = data.get("method") or data.get("http_method") or ""
        route = data.get("route_pattern") or data.get("route") or data.get("path") or ""
        text = " ".join(str(part) for part in (method, route) if part) or name
        return _short(text + tail)
    if kind == "client":
        method = data.get("method") or data.get("http_method") or ""
        return _short(" ".join(str(part) for part in (method, data.get("url") or name) if part) + tail)
    if kind == "task":
        task = data.get("task_name") or data.get("task") or name
        state = data.get("state")
        return _short(f"{task} {state}" if state else str(task))
    if kind == "producer":  # a message sent (a Celery task enqueued): what and where to
        task = data.get("task_name") or ""
        queue = data.get("queue") or ""
        return _short(" ".join(str(part) for part in (name, task, f"to {queue}" if queue else "") if part))
    return _short(name)


def event_fields(record: dict[str, Any]) -> dict[str, Any] | None:
    """The ``data`` of a span event record, or ``None`` for any other record."""
    data = record.get("data")
    if not isinstance(data, dict) or "span_name" not in data:
        return None
    if not isinstance(data.get("duration_ms"), (int, float)):
        return None
    return data


def summarise(records: list[dict[str, Any]], spans: list[dict[str, Any]]) -> dict[str, Any]:
    """Name the ``spans`` (in place) from the span events among ``records``; the request's summary."""
    by_id = {span["span_id"]: span for span in spans}
    sql_count = 0
    sql_ms = 0.0
    capped = False
    statements: dict[str, dict[str, Any]] = {}
    timed: list[dict[str, Any]] = []
    for record in records:
        data = event_fields(record)
        if data is None:
            continue
        span = by_id.get(record.get("span_id") or "")
        if span is None or "name" in span:
            continue  # a record outside any span, or a second event for the same span id
        kind = span_kind(data)
        duration = float(data["duration_ms"])
        span["name"] = str(data["span_name"])
        span["span_kind"] = kind
        span["label"] = label(data, kind)
        span["duration_ms"] = duration
        start = data.get("start")
        span["start"] = start if isinstance(start, (int, float)) else record.get("created")
        span["status"] = str(data.get("status") or "ok")
        span["error_type"] = str(data.get("error_type") or "")
        span["event_id"] = record.get("id")
        if kind == "sql":
            if span["name"] == "sql capped":
                capped = True
                continue
            sql_count += 1
            sql_ms += duration
            text = str(data.get("sql") or "")
            entry = statements.get(text)
            if entry is None:
                entry = statements[text] = {"sql": text, "count": 0, "duration_ms": 0.0, "span_ids": []}
            entry["count"] += 1
            entry["duration_ms"] += duration
            if len(entry["span_ids"]) < 100:
                entry["span_ids"].append(span["span_id"])
        timed.append(span)
    repeated = sorted(
        (entry for entry in statements.values() if entry["count"] >= REPEATED_AT_LEAST),
        key=lambda entry: (-entry["count"], -entry["duration_ms"]),
    )
    for entry in repeated:
        entry["duration_ms"] = round(entry["duration_ms"], 3)
        for span_id in entry["span_ids"]:
            by_id[span_id]["repeated"] = entry["count"]
    # The root of a request lasts as long as everything in it: the slowest of its parts say more.
    candidates = [span for span in timed if not _is_root_with_children(span)]
    slowest = sorted(candidates, key=lambda span: -span["duration_ms"])[:SLOWEST]
    root = next((span for span in timed if not by_id.get(span.get("parent_span_id") or "")), None)
    floor = 0.0 if root is None else root["duration_ms"] * SLOW_SHARE
    for span in slowest:
        if span["duration_ms"] >= floor:
            span["slow"] = True
    # Without any span event, spans have no duration: no path to tell.
    path = critical_path(spans, None if root is None else root["span_id"]) if timed else []
    return {
        "duration_ms": None if root is None else root["duration_ms"],
        "sql": {"count": sql_count, "duration_ms": round(sql_ms, 3), "capped": capped},
        "repeated": repeated,
        "slowest": [
            {"span_id": span["span_id"], "label": span["label"], "duration_ms": span["duration_ms"]}
            for span in slowest
        ],
        "critical_path": path,
        "complete": _complete(spans) if timed or capped else None,
    }


def _complete(spans: list[dict[str, Any]]) -> bool:
    """Whether every span has its event, and every span whose parent is missing may lack one.

    A span's event is written when it ends: a span without one is still running or its records
    are on their way. A root of the tree with a parent id is fine when it is a unit of work (a web
    request or a task: its parent is in the caller, maybe not instrumented); any other kind of
    span without its parent waits for it. A span that enqueued a Celery task (``producer``) waits
    for the task's span, its child.
    """
    for span in spans:
        if "name" not in span:
            return False
        orphan = not span.get("depth") and span.get("parent_span_id")
        if orphan and span["span_kind"] not in ("server", "task"):
            return False
        if span["span_kind"] == "producer" and not span.get("children"):
            return False  # the task it enqueued has not reported yet (queued, running, in flight)
    return True


def _is_root_with_children(span: dict[str, Any]) -> bool:
    return bool(span.get("children")) and span.get("span_kind") in ("server", "task")


def _seconds(ts: Any) -> float | None:
    """POSIX seconds of a record's ``ts`` (``2026-01-01T00:00:00.000000Z``)."""
    if not isinstance(ts, str):
        return None
    try:
        return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _bounds(spans: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Each span's [start, end] in POSIX seconds: its event's, else its records' and its children's.

    ``spans`` lists parents before children (:func:`~c2cwsgiutils.collector.http.api.span_tree`),
    so walking it backwards sees every child before its parent.
    """
    bounds: dict[str, tuple[float, float]] = {}
    for span in reversed(spans):
        start, duration = span.get("start"), span.get("duration_ms")
        if isinstance(start, (int, float)) and isinstance(duration, (int, float)):
            bounds[span["span_id"]] = (float(start), float(start) + max(0.0, float(duration)) / 1000)
            continue
        # No event (still running, or its records not all in): what its records and children span.
        low, high = _seconds(span.get("first")), _seconds(span.get("last"))
        edges = [(low, high)] if low is not None and high is not None else []
        edges += [bounds[child] for child in span.get("children", ()) if child in bounds]
        if edges:
            bounds[span["span_id"]] = (min(edge[0] for edge in edges), max(edge[1] for edge in edges))
    return bounds


def critical_path(spans: list[dict[str, Any]], root_id: str | None = None) -> list[str]:
    """Mark the critical path from ``root_id`` (default: the first root) and return its span ids.

    The critical path is the chain of spans the request's end waited for, as Jaeger draws it:
    walking back from the root's end, a span is critical until the end of its child that finished
    last; that child is critical in turn, and before that child started, its parent waits for the
    child that finished last before that moment, and so on back to the root's start. Children
    running in parallel with a later-finishing sibling are therefore not on it. A child is clipped
    to its parent (a task that outlives the request that enqueued it is on the path only up to the
    request's end; one that starts after it is not on it); a span without its event spans its
    records and its children. Each critical span gets ``critical: true``, ``critical_ms`` and
    ``critical_segments``; the ids come root first, then in the order the walk meets them.
    """
    if root_id is None:
        root_id = next((span["span_id"] for span in spans if not span.get("depth")), None)
    raw = _bounds(spans)
    by_id = {span["span_id"]: span for span in spans}
    if root_id is None or root_id not in raw:
        return []
    # Clip each child to its parent, top down; children left with nothing are off the path.
    clipped: dict[str, tuple[float, float]] = {root_id: raw[root_id]}
    holder: dict[str, str] = {}  # the span each one hangs under in the tree
    order: dict[str, list[str]] = {}  # children by end, last first
    stack = [root_id]
    while stack:
        parent = stack.pop()
        low, high = clipped[parent]
        kept = []
        for child in by_id[parent].get("children", ()):
            if child not in raw or child in clipped:
                continue
            start, end = raw[child]
            if start > high or end < low:
                continue
            clipped[child] = (max(start, low), min(end, high))
            holder[child] = parent
            kept.append(child)
            stack.append(child)
        order[parent] = sorted(kept, key=lambda child: -clipped[child][1])
    segments: dict[str, list[list[float]]] = {}
    path: list[str] = []
    cursor = dict.fromkeys(order, 0)  # next candidate child of each span (ends decrease)
    current: str | None = root_id
    blocked: float | None = None  # the time the current span waits until (a child's start)
    for _ in range(4 * len(clipped) + 4):  # each span is entered once and left once
        if current is None:
            break
        start, end = clipped[current]
        upto = end if blocked is None else blocked
        if current not in segments:
            segments[current] = []
            path.append(current)
        children = order[current]
        index = cursor[current]
        # The child that finished last before ``upto`` (strictly, once blocked by a child).
        while index < len(children) and (
            clipped[children[index]][1] > upto
            or (blocked is not None and clipped[children[index]][1] >= blocked)
        ):
            index += 1
        cursor[current] = index
        if index < len(children):
            child = children[index]
            cursor[current] = index + 1
            child_end = clipped[child][1]
            if upto > child_end:
                segments[current].append([child_end, upto])
            current, blocked = child, None
            continue
        if upto > start:
            segments[current].append([start, upto])
        if current == root_id:
            break
        current, blocked = holder[current], start
    for span_id in path:
        span = by_id[span_id]
        span["critical"] = True
        span["critical_segments"] = sorted([round(low, 6), round(high, 6)] for low, high in segments[span_id])
        span["critical_ms"] = round(sum(high - low for low, high in segments[span_id]) * 1000, 3)
    return path
