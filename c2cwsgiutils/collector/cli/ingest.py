"""``c2cwsgiutils-logs ingest FILE...|-``: send PostgreSQL and access logs to a collector.

Files are read line by line (a ``csvlog`` row may span several), parsed by :mod:`parsers` and sent
as gzip NDJSON batches through ``POST /api/v1/record``, like any other client. Each record's
idempotency key (``c2c_uuid``) is derived from the service and host names, the file's first line,
the record's byte offset and its bytes: ingesting the same file again (or a file that grew since)
stores nothing twice, while a rotated file (a new first line) gets new keys. ``--follow`` keeps
reading at the end of the file, and when the path is replaced (another inode: logrotate's
``create``) or truncated (``copytruncate``) it finishes the old file and starts again at the
beginning of the new one. A progress bar goes to stderr when it is a terminal and the files are
read once.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from c2cwsgiutils.collector.client import ClientError, CollectorClient
from c2cwsgiutils.collector.intake import parsers

__all__ = ["add_parser", "run"]

DEFAULT_SERVICES = {
    "pg-jsonlog": "postgresql",
    "pg-csvlog": "postgresql",
    "gunicorn": "gunicorn",
    "nginx": "nginx",
}
MAX_RECORD_BYTES = 1_000_000


def add_parser(commands: Any) -> None:
    """Add ``ingest`` to the ``c2cwsgiutils-logs`` subparsers."""
    parser = commands.add_parser("ingest", help="send PostgreSQL / gunicorn / nginx logs to a collector")
    parser.add_argument("files", nargs="+", metavar="FILE", help="log files, or - for stdin")
    parser.add_argument("--format", choices=parsers.FORMATS, help="log format (default: detected)")
    parser.add_argument("--service", help="service of the records (default: postgresql, gunicorn or nginx)")
    parser.add_argument("--host", help="host name of the records (default: this host)")
    parser.add_argument("--follow", "-f", action="store_true", help="keep reading, across rotations")
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between checks when following")
    parser.add_argument("--batch-size", type=int, default=500, help="records per request (default 500)")
    parser.add_argument(
        "--url", help="collector base URL (default C2C_COLLECTOR_URL or http://127.0.0.1:8090)"
    )
    parser.add_argument("--token", help="API token with the writer role (default C2C_COLLECTOR_TOKEN)")
    parser.add_argument("--quiet", action="store_true", help="no summary on stderr")


class _Sender:
    """Batches records and sends them; counts what the collector answered."""

    def __init__(self, client: CollectorClient, batch_size: int) -> None:
        self.client = client
        self.batch_size = max(1, batch_size)
        self.pending: list[dict[str, Any]] = []
        self.stored = self.duplicates = self.rejected = 0

    def add(self, record: dict[str, Any]) -> None:
        self.pending.append(record)
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        for attempt in range(6):
            try:
                answer = self.client.post_records(self.pending)
                break
            except ClientError as exc:
                if 400 <= exc.status < 500 or attempt == 5:
                    raise
                time.sleep(0.5 * 2**attempt)
        self.stored += int(answer.get("stored", 0))
        self.duplicates += int(answer.get("duplicates", 0))
        self.rejected += len(answer.get("errors", []))
        self.pending = []


class _Progress:
    """A one-line progress bar on stderr (only when it is a terminal)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled = max(1, total), enabled
        self.done = 0
        self.shown = 0.0

    def advance(self, size: int, records: int) -> None:
        self.done += size
        now = time.monotonic()
        if self.enabled and now - self.shown > 0.2:
            self.shown = now
            ratio = min(1.0, self.done / self.total)
            bar = "#" * int(30 * ratio)
            sys.stderr.write(f"\r[{bar:<30}] {ratio:4.0%} {self.done / 1_048_576:.1f} MiB {records} records")
            sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 72 + "\r")
            sys.stderr.flush()


def _lines(
    path: str, follow: bool, poll: float, stop: Callable[[], bool]
) -> Iterator[tuple[bytes, int, bytes]]:
    """(identity of the file, offset, line) of every complete line, following rotations."""
    if path == "-":
        offset, identity = 0, b""
        for line in sys.stdin.buffer:
            identity = identity or line
            yield identity, offset, line
            offset += len(line)
        return
    handle: BinaryIO = open(path, "rb")  # noqa: SIM115 - reopened on rotation
    try:
        inode, offset, identity, partial = os.fstat(handle.fileno()).st_ino, 0, b"", b""
        while True:
            line = handle.readline(MAX_RECORD_BYTES)
            if line:
                partial += line
                if not partial.endswith(b"\n") and len(partial) < MAX_RECORD_BYTES:
                    continue  # a line still being written
                identity = identity or partial
                yield identity, offset, partial
                offset += len(partial)
                partial = b""
                continue
            if not follow or stop():
                if partial:
                    yield identity or partial, offset, partial
                return
            try:
                current = os.stat(path)
            except FileNotFoundError:
                time.sleep(poll)  # between logrotate's rename and create
                continue
            if current.st_ino != inode:
                if handle.readline(1):  # written to the old file after our last read
                    handle.seek(offset + len(partial))
                    continue
                handle.close()
                handle = open(path, "rb")  # noqa: SIM115
                inode, offset, identity, partial = os.fstat(handle.fileno()).st_ino, 0, b"", b""
            elif current.st_size < offset + len(partial):
                handle.seek(0)  # truncated in place
                offset, identity, partial = 0, b"", b""
            else:
                yield b"", -1, b""  # idle: let the caller flush
                time.sleep(poll)
    finally:
        handle.close()


def _records(
    lines: Iterator[tuple[bytes, int, bytes]], fmt: str, salt: bytes
) -> Iterator[tuple[int, dict[str, Any] | None, str, int]]:
    """(offset, record or None when unparsable, uuid, bytes) of each record; (-1, None, "", 0) when idle."""
    pending: tuple[bytes, int, bytes] | None = None
    for item in lines:
        identity, offset, line = item
        if offset < 0:
            yield -1, None, "", 0
            continue
        if fmt == "pg-csvlog":
            if pending is not None and pending[0] == identity and pending[1] + len(pending[2]) == offset:
                pending = (identity, pending[1], pending[2] + line)
            else:
                pending = (identity, offset, line)
            text = pending[2].decode("utf-8", "replace")
            if not parsers.csv_complete(text) and len(pending[2]) < MAX_RECORD_BYTES:
                continue
            identity, offset, line = pending
            pending = None
            record = parsers.parse_pg_csv(text) if text.strip() else None
        else:
            text = line.decode("utf-8", "replace")
            if not text.strip():
                yield offset, None, "", len(line)
                continue
            record = parsers.parse_pg_json(text) if fmt == "pg-jsonlog" else parsers.parse_access(text, fmt)
        digest = hashlib.sha256(b"%s\0%s\0%d\0%s" % (salt, identity[:4096], offset, line)).hexdigest()[:32]
        yield offset, record, digest, len(line)


def _first_line(path: str) -> str:
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                return line.decode("utf-8", "replace")
    return ""


def _ingest_one(
    path: str,
    fmt: str,
    args: argparse.Namespace,
    sender: _Sender,
    progress: _Progress,
    *,
    stop: Callable[[], bool],
) -> int:
    service = args.service or DEFAULT_SERVICES[fmt]
    host = args.host or socket.gethostname()
    unparsed = 0
    last_send = time.monotonic()
    for _offset, record, uuid, size in _records(
        _lines(path, args.follow, args.poll, stop), fmt, f"{service}\0{host}".encode()
    ):
        if uuid == "" and record is None and size == 0:
            sender.flush()  # idle while following: send what was read
            last_send = time.monotonic()
            continue
        progress.advance(size, sender.stored + sender.duplicates + len(sender.pending))
        if record is None:
            unparsed += uuid != ""
            continue
        record["c2c_uuid"] = uuid
        if record.get("parent_span_id") and not record.get("span_id"):
            record["span_id"] = uuid[:16]  # its own span, a child of the caller's
        record.setdefault("service", service)
        record.setdefault("host", host)
        sender.add(record)
        if args.follow and time.monotonic() - last_send > 1.0:
            sender.flush()
            last_send = time.monotonic()
    return unparsed


def run(args: argparse.Namespace) -> int:
    """Run ``ingest``: 0 when every record was sent, 1 on a collector error, 2 on a usage error."""
    stopped = False

    def on_term(_signum: int, _frame: Any) -> None:
        nonlocal stopped
        stopped = True

    if args.follow:  # otherwise SIGTERM keeps its default meaning: stop now
        signal.signal(signal.SIGTERM, on_term)
    try:
        client = CollectorClient(args.url, args.token)
    except ClientError as exc:
        print(f"c2cwsgiutils-logs: {exc}", file=sys.stderr)
        return 2
    if args.follow and (len(args.files) > 1 or args.files == ["-"]):
        print("c2cwsgiutils-logs: --follow reads one file (run one ingest per file)", file=sys.stderr)
        return 2
    formats: list[str] = []
    for path in args.files:
        fmt = args.format
        if fmt is None:
            if path == "-":
                print("c2cwsgiutils-logs: --format is required to read stdin", file=sys.stderr)
                return 2
            try:
                fmt = parsers.detect_format(_first_line(path))
            except OSError as exc:
                print(f"c2cwsgiutils-logs: {exc}", file=sys.stderr)
                return 2
            if fmt is None:
                print(f"c2cwsgiutils-logs: cannot tell the format of {path}: use --format", file=sys.stderr)
                return 2
        formats.append(fmt)
    total = sum(os.path.getsize(p) for p in args.files if p != "-" and os.path.isfile(p))
    progress = _Progress(total, sys.stderr.isatty() and not args.follow)
    sender = _Sender(client, args.batch_size)
    unparsed = 0
    try:
        for path, fmt in zip(args.files, formats, strict=True):
            unparsed += _ingest_one(path, fmt, args, sender, progress, stop=lambda: stopped)
        sender.flush()
    except ClientError as exc:
        progress.finish()
        print(f"c2cwsgiutils-logs: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        progress.finish()
        print(f"c2cwsgiutils-logs: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        sender.flush()
    finally:
        client.close()
    progress.finish()
    if not args.quiet:
        print(
            f"stored {sender.stored}, already there {sender.duplicates}, rejected {sender.rejected}, "
            f"unparsed lines {unparsed}",
            file=sys.stderr,
        )
    return 0
