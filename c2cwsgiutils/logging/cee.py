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

import logging
import logging.handlers
import socket
from typing import Any

from c2cwsgiutils.logging.json import JsonFormatter

__all__ = ["CeeFormatter", "CeeSysLogHandler"]

CEE_COOKIE = "@cee: "
MAX_DATAGRAM = 60_000
"""Longer records have their message and traceback cut so that the datagram can be sent (UDP)."""
_KEEP = 8_000


class CeeFormatter(JsonFormatter):
    """``@cee: `` and the JSON record (see :class:`~c2cwsgiutils.logging.JsonFormatter`); never raises."""

    def __init__(self, *args: Any, max_size: int = MAX_DATAGRAM, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_size = max_size

    def format(self, record: logging.LogRecord) -> str:
        text = CEE_COOKIE + super().format(record)
        if len(text) <= self.max_size:
            return text
        return self._shortened(record, text)

    def _shortened(self, record: logging.LogRecord, text: str) -> str:
        import json

        try:
            data = json.loads(text[len(CEE_COOKIE) :])
            for key, value in list(data.items()):
                if isinstance(value, str) and len(value) > _KEEP:
                    data[key] = value[:_KEEP] + "...[truncated]"
                elif not isinstance(value, (str, int, float, bool)) and value is not None:
                    encoded = json.dumps(value)
                    if len(encoded) > _KEEP:
                        data[key] = encoded[:_KEEP] + "...[truncated]"
            data["truncated"] = True
            return CEE_COOKIE + json.dumps(data, ensure_ascii=False, separators=(",", ":"))[: self.max_size]
        except Exception:
            return text[: self.max_size]


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
