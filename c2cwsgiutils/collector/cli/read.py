"""``c2cwsgiutils-logs tail|query|count|timeline|request|status``: read a collector from a terminal.

    c2cwsgiutils-logs tail [filters] [--max N] [--timeout S]    follow live (Server-Sent Events)
    c2cwsgiutils-logs query [filters] [--limit N]               matching records, oldest first
    c2cwsgiutils-logs count [filters]
    c2cwsgiutils-logs timeline [filters] [--group minute|hour|day] [--timezone Europe/Zurich]
    c2cwsgiutils-logs request REQUEST_ID                        one request's span tree
    c2cwsgiutils-logs requests [--slowest] / routes             see cli_requests
    c2cwsgiutils-logs status

Filters: ``--level``, ``--name``, ``--query``, ``--after``/``--before`` (ISO 8601, POSIX seconds
or relative to now: ``15m``, ``1h``, ``7d``), ``--request-id``, ``--trace-id``. Every command
takes ``--url`` (default ``C2C_COLLECTOR_URL``), ``--token`` (default ``C2C_COLLECTOR_TOKEN``),
``--json`` (JSON lines) and ``--color auto|always|never``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from typing import Any

from c2cwsgiutils.collector.cli import requests as cli_requests
from c2cwsgiutils.collector.cli.output import Printer, use_colour
from c2cwsgiutils.collector.cli.times import relative_time
from c2cwsgiutils.collector.client import ClientError, CollectorClient

__all__ = ["COMMANDS", "add_parsers", "relative_time", "run"]

COMMANDS = ("tail", "query", "count", "timeline", "request", "status", *cli_requests.COMMANDS)


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", help="collector base URL (default C2C_COLLECTOR_URL or http://127.0.0.1:8090)"
    )
    parser.add_argument("--token", help="API token (default C2C_COLLECTOR_TOKEN)")


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="ANSI colours")


def _filter_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--level", help="minimum level (number or name)")
    parser.add_argument("--name", help="comma-separated logger name prefixes")
    parser.add_argument("--query", "-q", help="filter language expression (docs/collector/query-language.md)")
    parser.add_argument("--after", help="ISO 8601, POSIX seconds or relative (15m, 1h, 7d)")
    parser.add_argument("--before", help="ISO 8601, POSIX seconds or relative (15m, 1h, 7d)")
    parser.add_argument("--request-id", help="only this request")
    parser.add_argument("--trace-id", help="only this trace")


def add_parsers(commands: Any) -> None:
    """Add the read subcommands to the ``c2cwsgiutils-logs`` subparsers."""
    tail = commands.add_parser("tail", help="follow the collector live")
    tail.add_argument("--max", type=int, help="stop after this many records")
    tail.add_argument("--timeout", type=float, help="stop after this many seconds")
    tail.add_argument("--from-id", help="start after this record id (default: from now on)")
    tail.add_argument(
        "--server-timeout", type=int, default=300, help="seconds the server keeps a response open"
    )
    query = commands.add_parser("query", help="print the matching records")
    query.add_argument("--limit", type=int, default=100, help="at most this many (the newest; default 100)")
    commands.add_parser("count", help="print the number of matching records")
    timeline = commands.add_parser("timeline", help="print counts per minute, hour or day")
    timeline.add_argument("--group", choices=("minute", "hour", "day"), default="hour")
    timeline.add_argument("--timezone", default="UTC", help="IANA time zone of the periods (default UTC)")
    request = commands.add_parser("request", help="print one request's span tree")
    request.add_argument("request_id", metavar="ID")
    commands.add_parser(
        "status", help="ingestion rate, newest record and its age, storage size, last record per service/host"
    )
    cli_requests.add_parsers(commands)
    for name in COMMANDS:
        parser = commands.choices[name]
        _connection_options(parser)
        _output_options(parser)
        if name not in ("request", "status", *cli_requests.COMMANDS):
            _filter_options(parser)


def _filters(args: argparse.Namespace) -> dict[str, str]:
    filters: dict[str, str] = {}
    for name in ("level", "name", "query", "request_id", "trace_id"):
        value = getattr(args, name, None)
        if value:
            filters[name] = value
    for name in ("after", "before"):
        value = getattr(args, name, None)
        if value:
            filters[name] = relative_time(value)
    return filters


def _tail(client: CollectorClient, printer: Printer, args: argparse.Namespace) -> int:
    params = _filters(args)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    last_id: str | None = args.from_id
    printed = 0
    failures = 0
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return 0
        # The server ends the response on its own after ``timeout`` seconds; ours is shorter when
        # the command has a deadline so that it returns on time.
        server_timeout = args.server_timeout if remaining is None else max(1, int(remaining) + 1)
        server_timeout = min(server_timeout, args.server_timeout)
        try:
            for event in client.stream(
                {**params, "timeout": server_timeout}, last_id, read_timeout=min(60.0, remaining or 60.0)
            ):
                failures = 0
                if event.id:
                    last_id = event.id
                if event.event != "record":
                    continue
                printer.record(json.loads(event.data))
                printed += 1
                if args.max is not None and printed >= args.max:
                    return 0
                if deadline is not None and time.monotonic() >= deadline:
                    return 0
        except (ClientError, OSError) as exc:
            if isinstance(exc, ClientError) and 400 <= exc.status < 500:
                raise
            failures += 1
            if deadline is None or time.monotonic() < deadline:
                print(f"c2cwsgiutils-logs: {exc}; reconnecting", file=sys.stderr)
                time.sleep(min(10.0, 0.5 * 2 ** min(failures, 5)))


def _query(client: CollectorClient, printer: Printer, args: argparse.Namespace) -> int:
    params = _filters(args)
    wanted = max(0, args.limit)
    records: list[dict[str, Any]] = []
    while len(records) < wanted:
        page = min(100, wanted - len(records))
        batch = client.get_json(
            "/api/v1/record", {**params, "left": len(records), "right": len(records) + page - 1}
        )
        records.extend(batch)
        if len(batch) < page:
            break
    for record in reversed(records):  # oldest first, as a log reads
        printer.record(record)
    return 0


def _count(client: CollectorClient, printer: Printer, args: argparse.Namespace) -> int:
    count = int(client.head("/api/v1/record", _filters(args)).get("X-Record-Count", "0"))
    if printer.as_json:
        printer.json({"count": count})
    else:
        printer.line(str(count))
    return 0


def _timeline(client: CollectorClient, printer: Printer, args: argparse.Namespace) -> int:
    headers = client.head(
        "/api/v1/record", {**_filters(args), "group": args.group, "timezone": args.timezone}
    )
    counts = [int(c) for c in (headers.get("X-Record-Count") or "").split(",") if c]
    starts = [int(s) for s in (headers.get("X-Record-Group") or "").split(",") if s]
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(args.timezone)
    widest = max(counts, default=1)
    for start, count in zip(starts, counts, strict=False):
        moment = datetime.fromtimestamp(start, tz).isoformat()
        if printer.as_json:
            printer.json({"start": moment, "epoch": start, "count": count})
        else:
            bar = "#" * max(1, round(40 * count / widest)) if count else ""
            printer.line(f"{moment}  {count:>8}  {bar}")
    return 0


def _request(client: CollectorClient, printer: Printer, args: argparse.Namespace) -> int:
    import urllib.parse

    view = client.get_json("/api/v1/request/" + urllib.parse.quote(args.request_id, safe=""))
    printer.request_tree(view)
    return 0 if view.get("count") else 1


def _status(client: CollectorClient, printer: Printer, _args: argparse.Namespace) -> int:
    printer.status(client.get_json("/api/v1/status"))
    return 0


_HANDLERS = {
    "tail": _tail,
    "query": _query,
    "count": _count,
    "timeline": _timeline,
    "request": _request,
    "status": _status,
    **cli_requests.HANDLERS,
}


def run(args: argparse.Namespace) -> int:
    """Run one read subcommand; 0 on success, 1 when the collector refused, 2 on a usage error."""
    try:
        client = CollectorClient(args.url, args.token)
    except ClientError as exc:
        print(f"c2cwsgiutils-logs: {exc}", file=sys.stderr)
        return 2
    printer = Printer(as_json=args.json, colour=use_colour(sys.stdout, args.color))
    try:
        return _HANDLERS[args.command](client, printer, args)
    except ClientError as exc:
        print(f"c2cwsgiutils-logs: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    finally:
        client.close()
