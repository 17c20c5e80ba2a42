"""How ``c2cwsgiutils-logs`` prints records, request trees and the status in a terminal.

Colours (ANSI) only when asked to, which the commands do when stdout is a terminal and
``NO_COLOR`` is not set; ``--json`` prints one JSON object per line instead.

Record fields come from writers: their control characters (ESC and so ANSI sequences, OSC 52
clipboard writes, CR that would overwrite a line, BEL, C1 controls, bidi overrides) are printed
escaped (a backslash, ``x`` and the code: ``\\x1b``), coloured or not, and as JSON escapes in
JSON (issue #18).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import Any, TextIO

__all__ = ["Printer", "format_ms", "safe", "summary_lines", "use_colour"]

_LEVEL_COLOURS = ((40, "\033[31m"), (30, "\033[33m"), (20, "\033[32m"), (0, "\033[2m"))
_DIM, _BOLD, _CYAN, _RESET = "\033[2m", "\033[1m", "\033[36m", "\033[0m"


# Control characters (but tab and newline: lines are split at "\n" first), DEL, C1 controls and
# the bidirectional overrides and isolates -> a visible escape.
_ESCAPES = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in (*range(0x00, 0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))
    if code not in (0x09, 0x0A)
}
_JSON_ESCAPES = {
    code: f"\\u{code:04x}" for code in (*range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))
}


def safe(text: object) -> str:
    """``text`` with every terminal control character escaped (see the module)."""
    return str(text).translate(_ESCAPES)


def use_colour(stream: TextIO, option: str = "auto") -> bool:
    """Whether to colour ``stream``: ``always``, ``never``, or ``auto`` (a terminal, no NO_COLOR)."""
    if option != "auto":
        return option == "always"
    return stream.isatty() and not os.environ.get("NO_COLOR")


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 60:
        return f"{seconds:.3f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    return "".join(f"{value}{unit}" for value, unit in parts if value) or "0s"


def _parse_ts(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


_MAX_DEPTH = 64  # indentation levels of the span tree


class Printer:
    """Writes records and reports to ``out`` in text (optionally coloured) or JSON lines."""

    def __init__(self, out: TextIO | None = None, as_json: bool = False, colour: bool = False) -> None:
        self.out = out or sys.stdout
        self.as_json = as_json
        self.colour = colour

    def _c(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.colour else text

    def _level(self, record: dict[str, Any]) -> str:
        name = safe(record.get("level_name") or record.get("level"))
        for threshold, code in _LEVEL_COLOURS:
            if int(record.get("level") or 0) >= threshold:
                return self._c(code, f"{name:<8}")
        return f"{name:<8}"

    def line(self, text: str) -> None:
        """Print one line and flush (a pipe reader sees it at once)."""
        self.out.write(text + "\n")
        self.out.flush()

    def json(self, value: Any) -> None:
        """Print one JSON line (JSON escapes C0 controls; C1 controls and bidi overrides too here)."""
        self.line(json.dumps(value, ensure_ascii=False, default=str).translate(_JSON_ESCAPES))

    def record(self, record: dict[str, Any], indent: str = "") -> None:
        """One record: time, level, service, logger, request id and message."""
        if self.as_json:
            self.json(record)
            return
        parts = [self._c(_DIM, safe(record.get("time", ""))), self._level(record)]
        if record.get("service"):
            parts.append(self._c(_CYAN, safe(record["service"])))
        parts.append(self._c(_BOLD, safe(record.get("name", ""))))
        if record.get("request_id") and not indent:
            parts.append(self._c(_DIM, f"[{safe(record['request_id'])}]"))
        duration = (record.get("data") or {}).get("duration_ms")
        if isinstance(duration, (int, float)):
            parts.append(self._c("\033[35m", f"({duration:.1f} ms)"))
        message = str(record.get("message", ""))
        lines = [safe(line) for line in message.split("\n")]
        self.line(indent + " ".join(parts) + " " + lines[0])
        for more in lines[1:]:
            self.line(indent + "    " + more)

    def request_tree(self, view: dict[str, Any]) -> None:
        """The span tree of a ``/api/v1/request/{id}`` answer, each span with its records."""
        if self.as_json:
            self.json(view)
            return
        records: list[dict[str, Any]] = view.get("records", [])
        spans = {span["span_id"]: span for span in view.get("spans", [])}
        by_span: dict[str | None, list[dict[str, Any]]] = {}
        for record in records:
            by_span.setdefault(record.get("span_id") if record.get("span_id") in spans else None, []).append(
                record
            )
        if records:
            total = (_parse_ts(records[-1]["time"]) - _parse_ts(records[0]["time"])).total_seconds()
            summary = f"{view.get('count', len(records))} records, {len(spans)} spans, {_duration(total)}"
        else:
            summary = "no record"
        truncated = " (truncated)" if view.get("truncated") else ""
        self.line(self._c(_BOLD, f"request {safe(view.get('request_id'))}") + f": {summary}{truncated}")
        for text in summary_lines(view):
            self.line("  " + safe(text))
        for record in by_span.get(None, []):
            self.record(record, "  ")

        def show(span_id: str, depth: int) -> None:
            span = spans[span_id]
            seconds = (_parse_ts(span["last"]) - _parse_ts(span["first"])).total_seconds()
            # A span of one record (a SQL statement, an access line) lasts what the record says.
            for record in by_span.get(span_id, []):
                measured = (record.get("data") or {}).get("duration_ms")
                if isinstance(measured, (int, float)):
                    seconds = max(seconds, measured / 1000)
            indent = "  " * (depth + 1)
            labels = safe(", ".join(map(str, [*span.get("services", []), *span.get("kinds", [])])))
            if isinstance(span.get("duration_ms"), (int, float)):
                seconds = span["duration_ms"] / 1000
            flags = "".join(
                (
                    f" [x{span['repeated']}]" if span.get("repeated") else "",
                    " [slow]" if span.get("slow") else "",
                    " [critical]" if span.get("critical") else "",
                )
            )
            what = (
                f"{safe(span.get('span_kind', 'span'))} {safe(span['label'])}"
                if span.get("label")
                else f"span {safe(span_id)}"
            )
            head = f"{indent}└ {what} {_duration(seconds)}{flags}"
            self.line(self._c(_CYAN, head) + (f" ({labels})" if labels else ""))
            for record in by_span.get(span_id, []):
                if record.get("id") != span.get("event_id"):  # the span line stands for its event
                    self.record(record, indent + "  ")

        # Iterative, each span once, depth capped: the server breaks cycles and flattens deep
        # chains (api.link_spans), and this holds against any answer too.
        seen: set[str] = set()
        stack = [(root, 0) for root in reversed(view.get("roots", []))]
        while stack:
            span_id, depth = stack.pop()
            if span_id in seen or span_id not in spans:
                continue
            seen.add(span_id)
            show(span_id, depth)
            children = spans[span_id].get("children", [])
            stack.extend((child, min(depth + 1, _MAX_DEPTH)) for child in reversed(children))

    def status(self, status: dict[str, Any]) -> None:
        """The ``/api/v1/status`` document as a short report."""
        if self.as_json:
            self.json(status)
            return
        size = status["storage"].get("bytes")
        size_text = "unknown" if size is None else f"{size / 1_048_576:.1f} MiB"
        lag = status.get("lag_seconds")
        self.line(f"records:   {status['records']} ({status['storage']['backend']}, {size_text})")
        self.line(f"rate:      {status['rate_1m']:.2f}/s over 1 min, {status['rate_5m']:.2f}/s over 5 min")
        self.line(f"newest:    {status['newest']} ({'-' if lag is None else _duration(max(0.0, lag))} ago)")
        compiled = status.get("compiled") or {}
        slow = sorted(name.rsplit(".", 1)[-1] for name, how in compiled.items() if how != "compiled")
        if compiled:
            self.line(f"compiled:  {'yes' if not slow else 'no, plain Python: ' + ', '.join(slow)}")
        if status["sources"]:
            self.line(self._c(_BOLD, f"{'service':<24} {'host':<24} {'records':>10}  last record"))
            for source in status["sources"]:
                idle = _duration(source["idle_seconds"])
                self.line(
                    f"{safe(source['service'] or '-'):<24} {safe(source['host'] or '-'):<24} "
                    f"{source['records']:>10}  {safe(source['last'])} ({idle} ago)"
                )


def format_ms(value: Any) -> str:
    """A duration in milliseconds as ``12.3 ms`` or ``1.234 s``; ``-`` when it is not a number."""
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.3f} s"


def summary_lines(view: dict[str, Any]) -> list[str]:
    """The "what did this request do" lines of a ``/api/v1/request/{id}`` answer."""
    sql = view.get("sql")
    if not isinstance(sql, dict):
        return []
    lines = [
        f"SQL: {sql.get('count', 0)} statements, {format_ms(sql.get('duration_ms'))}"
        + (" (capped: later statements not recorded)" if sql.get("capped") else "")
        + (
            f"; request {format_ms(view['duration_ms'])}"
            if isinstance(view.get("duration_ms"), (int, float))
            else ""
        )
    ]
    for entry in view.get("repeated") or []:
        lines.append(f"N+1: repeated {entry['count']}x ({format_ms(entry['duration_ms'])}): {entry['sql']}")
    slowest = view.get("slowest") or []
    if slowest:
        slow = (f"{format_ms(entry['duration_ms'])} {entry['label']}" for entry in slowest)
        lines.append("slowest: " + " | ".join(slow))
    lines.extend(_critical_lines(view))
    if view.get("complete") is False:
        lines.append("incomplete: some spans have not ended or their records are not all in yet")
    return lines


def _critical_lines(view: dict[str, Any]) -> list[str]:
    """The critical path in one line: how many spans, those that hold it longest first."""
    path = view.get("critical_path")
    if not isinstance(path, list) or not path:
        return []
    by_id = {span.get("span_id"): span for span in view.get("spans") or []}
    on_path = [by_id[span_id] for span_id in path if span_id in by_id]
    longest = sorted(on_path, key=lambda span: -float(span.get("critical_ms") or 0))[:3]
    parts = (
        f"{format_ms(span.get('critical_ms'))} {span.get('label') or 'span ' + str(span.get('span_id'))}"
        for span in longest
    )
    return [f"critical path: {len(on_path)} spans [critical]; most time on it: " + " | ".join(parts)]
