"""Helpers building the bodies the collector receives."""

from __future__ import annotations

import gc
import json
import logging
import logging.handlers
import urllib.parse
import uuid as uuid_module
import warnings
from typing import Any

BASE = 1_763_800_000.0  # 2025-11-22T08:26:40Z


def wire(message: str = "hello", **fields: Any) -> dict[str, Any]:
    """A record in the wire schema (c2cwsgiutils/logging/record.py plus its c2c_uuid key)."""
    record: dict[str, Any] = {
        "c2c_uuid": uuid_module.uuid4().hex,
        "timestamp": "2025-11-22T08:26:40.000000Z",
        "created": BASE,
        "level": 6,
        "level_name": "INFO",
        "levelno": 20,
        "msg": message,
        "logger_name": "app.views",
        "file": "/app/views.py",
        "line": 12,
        "function": "view",
        "pid": 42,
        "process_name": "MainProcess",
        "thread_name": "MainThread",
        "host": "web-1",
        "service": "demo",
        "request_id": "",
        "trace_id": "",
        "span_id": "",
        "parent_span_id": "",
        "kind": "web",
        "task_id": "",
    }
    record.update(fields)
    return record


def ndjson(*records: dict[str, Any]) -> bytes:
    """NDJSON body of ``records``."""
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def httphandler_form(message: str = "hello %s", args: tuple[Any, ...] = ("world",), **extra: Any) -> str:
    """The exact body ``logging.handlers.HTTPHandler`` sends for one record."""
    logger = logging.getLogger("tests.collector.form")
    record = logger.makeRecord(
        logger.name, logging.WARNING, "/src/mod.py", 33, message, args, None, "func", extra
    )
    handler = logging.handlers.HTTPHandler("localhost:1", "/api/v1/record", "POST")
    return urllib.parse.urlencode(handler.mapLogRecord(record))


def ship_with_httphandler(port: int, logger_name: str, message: str, *args: Any, **extra: Any) -> None:
    """Log one WARNING through the stdlib ``HTTPHandler`` (user logger, password pw) to ``port``."""
    handler = logging.handlers.HTTPHandler(
        f"127.0.0.1:{port}", "/api/v1/record", "POST", credentials=("logger", "pw")
    )
    logger = logging.getLogger(logger_name)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings():
            # HTTPHandler never closes its connection: that is the stdlib's, not ours to test.
            warnings.simplefilter("ignore", ResourceWarning)
            logger.warning(message, *args, extra=extra)
            gc.collect()
    finally:
        logger.removeHandler(handler)
