"""CEE syslog: each record sent to a syslog server as ``@cee:`` followed by the JSON record.

rsyslog (``mmjsonparse``) and syslog-ng (``json-parser``) turn such messages back into fields.
Usable from ``dictConfig``::

    "syslog": {"class": "c2cwsgiutils.logging.CeeSysLogHandler", "address": ["syslog.local", 514]}

and from ini files::

    [handler_syslog]
    class = c2cwsgiutils.logging.CeeSysLogHandler
    args = (("syslog.local", 514),)
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import socket
from typing import Any

from c2cwsgiutils.logging.json import JsonFormatter

__all__ = ["CeeFormatter", "CeeSysLogHandler"]

CEE_COOKIE = "@cee: "
MAX_DATAGRAM = 60_000
"""Bytes (UTF-8) of a record at most: longer ones have their longest fields cut so that the
datagram can be sent (UDP), the JSON staying valid."""
_TRUNCATED = "...[truncated]"
_MIN_FIELD = 256  # bytes a cut field keeps at least, while other fields can give more


def _size(value: Any) -> int:
    """Bytes of ``value`` in the record's JSON text."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _cut(text: str, size: int) -> str:
    """``text`` cut to at most ``size`` UTF-8 bytes (never inside a character) and marked."""
    return text.encode("utf-8")[: max(0, size)].decode("utf-8", "ignore") + _TRUNCATED


class CeeFormatter(JsonFormatter):
    """``@cee: `` and the JSON record (see :class:`~c2cwsgiutils.logging.JsonFormatter`); never raises.

    A record longer than ``max_size`` bytes is shortened field by field, the longest first, each
    string cut at a character boundary and marked ``...[truncated]``, with ``"truncated": true``:
    the text is always valid JSON within ``max_size`` bytes (issue #18: slicing the JSON text made
    invalid JSON, and counting characters let 25,000 "€" exceed a datagram, silently not sent).
    """

    def __init__(self, *args: Any, max_size: int = MAX_DATAGRAM, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_size = max_size

    def format(self, record: logging.LogRecord) -> str:
        text = CEE_COOKIE + super().format(record)
        if len(text) * 4 <= self.max_size or len(text.encode("utf-8")) <= self.max_size:
            return text
        return self._shortened(text)

    def _shortened(self, text: str) -> str:
        budget = self.max_size - len(CEE_COOKIE)
        try:
            data = json.loads(text[len(CEE_COOKIE) :])
        except ValueError:
            data = {"msg": text[len(CEE_COOKIE) :]}
        data["truncated"] = True
        for minimum in (_MIN_FIELD, 0):
            over = _size(data) - budget
            sizes = {key: _size(value) for key, value in data.items()}
            for key in sorted(sizes, key=sizes.__getitem__, reverse=True):
                if over <= 0:
                    break
                value = data[key]
                shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                keep = max(minimum, sizes[key] - over - len(_TRUNCATED) - 16)
                if sizes[key] <= keep + len(_TRUNCATED):
                    continue
                data[key] = _cut(shown, keep)
                over -= sizes[key] - _size(data[key])
            encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            if len(encoded.encode("utf-8")) <= budget:
                return CEE_COOKIE + encoded
        return CEE_COOKIE + json.dumps(
            {"msg": _cut(str(data.get("msg", "")), budget // 8), "truncated": True}
        )


class CeeSysLogHandler(logging.handlers.SysLogHandler):
    """A :class:`logging.handlers.SysLogHandler` (UDP by default) sending CEE JSON records.

    ``address`` is ``(host, port)`` or a Unix socket path, as for the base class.
    """

    def __init__(
        self,
        address: tuple[str, int] | str = ("localhost", logging.handlers.SYSLOG_UDP_PORT),
        facility: int | str = logging.handlers.SysLogHandler.LOG_USER,
        socktype: socket.SocketKind | None = None,
        service: str | None = None,
    ) -> None:
        if isinstance(address, list):  # dictConfig gives a list from YAML/JSON
            address = (address[0], int(address[1]))
        if isinstance(facility, str):
            facility = logging.handlers.SysLogHandler.facility_names[facility.lower()]
        super().__init__(address, facility, socktype if socktype is not None else socket.SOCK_DGRAM)
        self.append_nul = False
        self.setFormatter(CeeFormatter(service=service))
