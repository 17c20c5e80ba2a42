"""6.x's ``c2cwsgiutils.broadcast.utils``: the process identity added to a broadcast answer."""

from __future__ import annotations

import os
import socket
from typing import Any

__all__ = ["add_host_info"]


def add_host_info(response: Any) -> Any:
    """``response`` with ``hostname`` and ``pid`` of this process added when it is a dict (in place,
    as 6.x did); anything else is returned as it is."""
    if isinstance(response, dict):
        response["hostname"] = socket.gethostname()
        response["pid"] = os.getpid()
    return response
