"""6.x's logging handlers, kept for ini files that name them (``class = c2cwsgiutils.pyramid_logging.X``).

``JsonLogHandler`` is :class:`c2cwsgiutils.logging.json.JsonLogHandler` and
``PyramidCeeSysLogHandler`` :class:`c2cwsgiutils.logging.cee.CeeSysLogHandler`, except that, as in
6.x, a formatter given to them (the 6.x template gives ``formatter = generic``) does not replace
their JSON. Both warn on use.
"""

from __future__ import annotations

import logging
from typing import Any

from c2cwsgiutils._deprecated import warn
from c2cwsgiutils.logging import cee, json

__all__: list[str] = []


class _JsonLogHandler(json.JsonLogHandler):
    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        if fmt is None or isinstance(fmt, json.JsonFormatter):
            super().setFormatter(fmt)


class _CeeSysLogHandler(cee.CeeSysLogHandler):
    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        if fmt is None or isinstance(fmt, json.JsonFormatter):
            super().setFormatter(fmt)


_NAMES: dict[str, tuple[type[Any], str]] = {
    "JsonLogHandler": (_JsonLogHandler, "c2cwsgiutils.logging.json.JsonLogHandler"),
    "PyramidCeeSysLogHandler": (_CeeSysLogHandler, "c2cwsgiutils.logging.cee.CeeSysLogHandler"),
}


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    handler, new = _NAMES[name]
    warn(f"{__name__}.{name}", new)
    return handler
