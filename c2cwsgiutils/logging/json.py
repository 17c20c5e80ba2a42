"""JSON logs: :class:`JsonFormatter` (one JSON object per record, the schema of
:mod:`c2cwsgiutils.logging.record`) and :class:`JsonLogHandler` (a stream handler using it).

Both never raise: a value JSON cannot encode becomes its ``repr``, and a record that still cannot
be encoded (a circular structure, a ``__repr__`` that raises ...) is written with its basic fields
and an ``encoding_error`` field. Usable from ``dictConfig``::

    "handlers": {"json": {"class": "c2cwsgiutils.logging.JsonLogHandler", "stream": "ext://sys.stdout"}}

and from ini files (``fileConfig``)::

    [handler_json]
    class = c2cwsgiutils.logging.JsonLogHandler
    args = (sys.stdout,)
"""

from __future__ import annotations

import json
import logging
import os
from typing import IO, Any

from c2cwsgiutils import config
from c2cwsgiutils.logging.record import HOSTNAME, constant_fields, record_to_dict, record_to_json
from c2cwsgiutils.logging.record import safe_repr as _safe_repr

__all__ = ["LOG_FORMAT", "TEXT_FORMAT", "JsonFormatter", "JsonLogHandler"]

LOG_FORMAT = config.declare(
    "C2C_LOG_FORMAT",
    "",
    "json",
    config.choice("json", "text"),
    "What `JsonLogHandler` writes: `json`, one object per line (the default, for production and "
    "log shippers), or `text`, readable lines with the request ID (`time LEVEL [request_id] "
    "logger: message`, for a terminal in development). Read from the environment when the handler "
    "is created.",
    feature="logging",
)
# The readable console line of C2C_LOG_FORMAT=text.
TEXT_FORMAT = "%(asctime)s %(levelname)-5s [%(request_id)s] %(name)s: %(message)s"


def _console_format() -> str:
    try:
        return LOG_FORMAT.get(None)
    except config.ConfigError:
        # Logging is configured before the application validates its settings, which then stops
        # start-up naming the variable: the handler itself never breaks the logging set-up.
        return LOG_FORMAT.default


SERVICE_ENV = "C2C_SERVICE_NAME"


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (see :func:`~c2cwsgiutils.logging.record.record_to_dict`).

    ``service`` defaults to the ``C2C_SERVICE_NAME`` environment variable (read once, here). The
    positional arguments of :class:`logging.Formatter` are accepted (and ignored but for
    ``datefmt``) so that ``dictConfig`` and ``fileConfig`` can build it with ``class =``.
    """

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: Any = "%",
        validate: bool = True,
        *,
        defaults: Any = None,
        service: str | None = None,
    ) -> None:
        super().__init__(None, datefmt)
        self.service = os.environ.get(SERVICE_ENV, "") if service is None else service
        self._constant = constant_fields(self.service)
        # One encoder built once: json.dumps(...) with options builds a new one per call.
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_safe_repr).encode

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object on one line; never raises."""
        try:
            return record_to_json(record, self._constant, self._encode, self)
        except Exception as exc:
            return self._fallback(record, exc)

    def _fallback(self, record: logging.LogRecord, error: Exception) -> str:
        # The full record could not be encoded: keep what can be, with every value as a string.
        try:
            data = record_to_dict(record, self.service, self)
            safe = {str(key): _plain(value) for key, value in data.items()}
        except Exception:
            safe = {
                "msg": _safe_repr(getattr(record, "msg", "")),
                "logger_name": str(getattr(record, "name", "")),
                "level_name": str(getattr(record, "levelname", "")),
                "host": HOSTNAME,
                "service": self.service,
            }
        safe["encoding_error"] = f"{type(error).__name__}: {_safe_repr(str(error))}"
        return json.dumps(safe, ensure_ascii=False, separators=(",", ":"), default=_safe_repr)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return _safe_repr(value)


class JsonLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler (default ``sys.stderr``, like :class:`logging.StreamHandler`) writing one
    JSON object per line with :class:`JsonFormatter`, unless another formatter is set, or readable
    text lines with the request ID when ``C2C_LOG_FORMAT=text`` (development).
    """

    def __init__(self, stream: IO[str] | None = None, service: str | None = None) -> None:
        super().__init__(stream)
        if _console_format() == "text":
            from c2cwsgiutils.logging.filter import ContextFormatter

            self.setFormatter(ContextFormatter(TEXT_FORMAT))
        else:
            self.setFormatter(JsonFormatter(service=service))

    def handle(self, record: logging.LogRecord) -> bool:
        """:meth:`logging.Handler.handle` without its overhead when there is no filter."""
        if self.filters:
            result = self.filter(record)
            if not result:
                return False
            if isinstance(result, logging.LogRecord):  # Python >= 3.12: a filter may replace it
                record = result
        with self.lock:  # type: ignore[union-attr]
            self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record and flush (the same contract as :meth:`logging.StreamHandler.emit`)."""
        try:
            formatter = self.formatter
            message = formatter.format(record) if formatter is not None else self.format(record)
            stream = self.stream
            try:
                stream.write(message + "\n")
            except UnicodeEncodeError:  # lone surrogates: write them escaped rather than lose the record
                stream.write(json.dumps(json.loads(message)) + "\n")
            flush = getattr(stream, "flush", None)
            if flush is not None:
                flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
