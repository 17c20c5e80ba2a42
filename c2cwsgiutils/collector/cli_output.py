"""How ``c2cwsgiutils-logs`` prints records, request trees and the status in a terminal.

Colours (ANSI) only when asked to, which the commands do when stdout is a terminal and
``NO_COLOR`` is not set; ``--json`` prints one JSON object per line instead.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import Any, TextIO

__all__ = ["Printer", "use_colour"]

_LEVEL_COLOURS = ((40, "\033[31m"), (30, "\033[33m"), (20, "\033[32m"), (0, "\033[2m"))
_DIM, _BOLD, _CYAN, _RESET = "\033[2m", "\033[1m", "\033[36m", "\033[0m"


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


class Printer:
    """Writes records and reports to ``out`` in text (optionally coloured) or JSON lines."""

    def __init__(self, out: TextIO | None = None, as_json: bool = False, colour: bool = False) -> None:
        self.out = out or sys.stdout
        self.as_json = as_json
        self.colour = colour

    def _c(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.colour else text

    def _level(self, record: dict[str, Any]) -> str:
        name = str(record.get("level_name") or record.get("level"))
        for threshold, code in _LEVEL_COLOURS:
            if int(record.get("level") or 0) >= threshold:
                return self._c(code, f"{name:<8}")
        return f"{name:<8}"

    def line(self, text: str) -> None:
        """Print one line and flush (a pipe reader sees it at once)."""
        self.out.write(text + "\n")
        self.out.flush()

    def json(self, value: Any) -> None:
        """Print one JSON line."""
        self.line(json.dumps(value, ensure_ascii=False, default=str))

    def record(self, record: dict[str, Any], indent: str = "") -> None:
        """One record: time, level, service, logger, request id and message."""
        if self.as_json:
            self.json(record)
            return
        parts = [self._c(_DIM, str(record.get("ts", ""))), self._level(record)]
        if record.get("service"):
            parts.append(self._c(_CYAN, str(record["service"])))
        parts.append(self._c(_BOLD, str(record.get("name", ""))))
        if record.get("request_id") and not indent:
            parts.append(self._c(_DIM, f"[{record['request_id']}]"))
        duration = (record.get("data") or {}).get("duration_ms")
        if isinstance(duration, (int, float)):
            parts.append(self._c("\033[35m", f"({duration:.1f} ms)"))
        message = str(record.get("message", ""))
        lines = message.splitlines() or [""]
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
            total = (_parse_ts(records[-1]["ts"]) - _parse_ts(records[0]["ts"])).total_seconds()
            summary = f"{view.get('count', len(records))} records, {len(spans)} spans, {_duration(total)}"
        else:
            summary = "no record"
        truncated = " (truncated)" if view.get("truncated") else ""
        self.line(self._c(_BOLD, f"request {view.get('request_id')}") + f": {summary}{truncated}")
        from c2cwsgiutils.collector.cli_requests import summary_lines

        for text in summary_lines(view):
            self.line("  " + text)
        for record in by_span.get(None, []):
            self.record(record, "  ")

        def walk(span_id: str, depth: int) -> None:
            span = spans[span_id]
            seconds = (_parse_ts(span["last"]) - _parse_ts(span["first"])).total_seconds()
            # A span of one record (a SQL statement, an access line) lasts what the record says.
            for record in by_span.get(span_id, []):
                measured = (record.get("data") or {}).get("duration_ms")
                if isinstance(measured, (int, float)):
                    seconds = max(seconds, measured / 1000)
            indent = "  " * (depth + 1)
            labels = ", ".join([*span.get("services", []), *span.get("kinds", [])])
            if isinstance(span.get("duration_ms"), (int, float)):
                seconds = span["duration_ms"] / 1000
            flags = "".join(
                (
                    f" [x{span['repeated']}]" if span.get("repeated") else "",
                    " [slow]" if span.get("slow") else "",
                )
            )
            what = (
                f"{span.get('span_kind', 'span')} {span['label']}" if span.get("label") else f"span {span_id}"
            )
            head = f"{indent}└ {what} {_duration(seconds)}{flags}"
            self.line(self._c(_CYAN, head) + (f" ({labels})" if labels else ""))
            for record in by_span.get(span_id, []):
                if record.get("id") != span.get("event_id"):  # the span line stands for its event
                    self.record(record, indent + "  ")
            for child in span.get("children", []):
                walk(child, depth + 1)

        for root in view.get("roots", []):
            walk(root, 0)

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
                self.line(
                    f"{source['service'] or '-':<24} {source['host'] or '-':<24} {source['records']:>10}  "
                    f"{source['last']} ({_duration(source['idle_seconds'])} ago)"
                )
