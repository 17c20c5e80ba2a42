"""``c2cwsgiutils-logs requests|routes``: find the slow and failing requests from a terminal.

    c2cwsgiutils-logs requests [--slowest] [--route R] [--status 5xx] [--service S] [--method M]
                               [--min-duration MS] [--max-duration MS] [--after 1h] [--before T]
                               [--limit N]
    c2cwsgiutils-logs routes   [--after 24h] [same filters]       p50/p95/p99 per route

``--after`` defaults to ``24h`` (a slowest-first list or percentiles read every request of the range).

They print what ``GET /api/v1/requests`` and ``GET /api/v1/routes`` answer (``--json``: as JSON
lines); each request line ends with the command that shows its request view.
"""

from __future__ import annotations

import argparse
import urllib.parse
from typing import Any

from c2cwsgiutils.collector.cli.output import Printer, summary_lines
from c2cwsgiutils.collector.cli.output import format_ms as _ms
from c2cwsgiutils.collector.cli.times import relative_time
from c2cwsgiutils.collector.client import CollectorClient

__all__ = ["COMMANDS", "HANDLERS", "add_parsers", "summary_lines"]

COMMANDS = ("requests", "routes")


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--after", default="24h", help="ISO 8601, POSIX seconds or relative (15m, 1h, 7d; default 24h)"
    )
    parser.add_argument("--before", help="ISO 8601, POSIX seconds or relative (15m, 1h, 7d)")
    parser.add_argument("--route", help="only this route (name or pattern)")
    parser.add_argument("--method", help="only this HTTP method")
    parser.add_argument("--status", help="a status code (500), a class (5xx) or error")
    parser.add_argument("--service", help="only this service")
    parser.add_argument("--min-duration", type=float, metavar="MS", help="at least this many milliseconds")
    parser.add_argument("--max-duration", type=float, metavar="MS", help="at most this many milliseconds")


def add_parsers(commands: Any) -> None:
    """Add ``requests`` and ``routes`` to the ``c2cwsgiutils-logs`` subparsers."""
    requests = commands.add_parser("requests", help="recent requests: route, status, duration, SQL")
    requests.add_argument("--slowest", action="store_true", help="slowest first (default: newest first)")
    requests.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    requests.add_argument("--offset", type=int, default=0, help="skip this many")
    _filters(requests)
    routes = commands.add_parser("routes", help="per route: count, errors, p50/p95/p99")
    _filters(routes)


def _params(args: argparse.Namespace) -> dict[str, str]:
    params: dict[str, str] = {}
    for name in ("route", "method", "status", "service"):
        value = getattr(args, name, None)
        if value:
            params[name] = value
    for name in ("after", "before"):
        value = getattr(args, name, None)
        if value:
            params[name] = relative_time(value)
    for name, key in (("min_duration", "min_duration_ms"), ("max_duration", "max_duration_ms")):
        value = getattr(args, name, None)
        if value is not None:
            params[key] = str(value)
    return params


def _requests(client: CollectorClient, printer: Printer, args: argparse.Namespace) -> int:
    params = _params(args)
    params.update(sort="duration" if args.slowest else "time", limit=str(args.limit), offset=str(args.offset))
    answer = client.get_json("/api/v1/requests?" + urllib.parse.urlencode(params))
    rows: list[dict[str, Any]] = answer.get("requests", [])
    if printer.as_json:
        for row in rows:
            printer.json(row)
        return 0
    if not rows:
        printer.line("no request")
        return 0
    printer.line(f"{'time':<27} {'duration':>10} {'status':>6} {'SQL':>4} {'SQL time':>10}  request")
    for row in rows:
        status = row.get("status_code") if row.get("status_code") is not None else row.get("status")
        route = " ".join(str(part) for part in (row.get("method"), row.get("route")) if part) or "-"
        sql = row.get("sql") or {}
        timing = f"{_ms(row.get('duration_ms')):>10} {status!s:>6} {sql.get('count', 0):>4}"
        printer.line(
            f"{row.get('ts', ''):<27} {timing} {_ms(sql.get('duration_ms')):>10}  {route} "
            f"[{row.get('service') or '-'}]  c2cwsgiutils-logs request {row.get('request_id')}"
        )
    return 0


def _routes(client: CollectorClient, printer: Printer, args: argparse.Namespace) -> int:
    answer = client.get_json("/api/v1/routes?" + urllib.parse.urlencode(_params(args)))
    routes: list[dict[str, Any]] = answer.get("routes", [])
    if printer.as_json:
        for entry in routes:
            printer.json(entry)
        return 0
    printer.line(f"{'count':>7} {'errors':>6} {'p50':>10} {'p95':>10} {'p99':>10} {'max':>10}  route")
    for entry in routes:
        route = " ".join(str(part) for part in (entry.get("method"), entry.get("route")) if part) or "-"
        printer.line(
            f"{entry['count']:>7} {entry['errors']:>6} {_ms(entry['p50']):>10} {_ms(entry['p95']):>10} "
            f"{_ms(entry['p99']):>10} {_ms(entry['max']):>10}  {route}"
        )
    if answer.get("truncated"):
        printer.line("(only the newest requests of the range were read: narrow it with --after/--before)")
    return 0


HANDLERS = {"requests": _requests, "routes": _routes}
