"""6.x's ``c2cwsgiutils.logging_view``: now :mod:`c2cwsgiutils.logging.level_view` (included by
``c2cwsgiutils.pyramid``)."""

from __future__ import annotations

from typing import Any

from c2cwsgiutils._deprecated import init_alias, warn

includeme = init_alias(__name__, "c2cwsgiutils.logging.level_view")


def install_subscriber(config: Any) -> None:
    """6.x's cross-process log-level listener (deprecated): part of ``c2cwsgiutils.logging.level_view``."""
    warn(f"{__name__}.install_subscriber", 'config.include("c2cwsgiutils.logging.level_view")')
