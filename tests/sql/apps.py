"""Pieces of the Pyramid test applications of the SQL tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from c2cwsgiutils import context


def context_tween_factory(handler: Callable[[Any], Any], registry: Any) -> Callable[[Any], Any]:
    """Stands for the request-tracking tween: binds the X-Request-ID header and kind "web"."""

    def tween(request: Any) -> Any:
        request_id = request.headers.get("X-Request-ID") or context.new_request_id()
        with context.bind(request_id=request_id, kind="web", route=request.path_info.strip("/")):
            return handler(request)

    return tween
