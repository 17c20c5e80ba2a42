"""The ``json`` and ``fast_json`` renderers of 6.x, pretty-printed and key-sorted on demand.

``config.include("c2cwsgiutils.pretty_json")`` (included by ``c2cwsgiutils.pyramid``) registers
``json`` and ``fast_json`` (the same renderer: 6.x's used ujson, the standard library is as fast
for the answers of a web service) and, with cornice, ``cornice_json`` / ``cornice_fast_json``,
all indented by 2 with ``C2C_JSON_PRETTY_PRINT`` and with sorted keys with ``C2C_JSON_SORT_KEYS``.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from c2cwsgiutils import config

__all__ = ["JSON_PRETTY_PRINT", "JSON_SORT_KEYS", "includeme", "init"]

JSON_PRETTY_PRINT = config.declare(
    "C2C_JSON_PRETTY_PRINT",
    "c2c.json.pretty_print",
    False,
    config.as_bool,
    "JSON answers of the json / fast_json renderers indented (2 spaces).",
    feature="renderers",
)
JSON_SORT_KEYS = config.declare(
    "C2C_JSON_SORT_KEYS",
    "c2c.json.sort_keys",
    False,
    config.as_bool,
    "JSON answers of the json / fast_json renderers with their keys sorted.",
    feature="renderers",
)


def includeme(config_: Any) -> None:
    """Pyramid include: register the renderers (see the module documentation)."""
    from pyramid.renderers import JSON

    settings = config_.get_settings()
    options: dict[str, Any] = {"sort_keys": JSON_SORT_KEYS.get(settings)}
    if JSON_PRETTY_PRINT.get(settings):
        options["indent"] = 2
    if options["sort_keys"] or "indent" in options:  # else Pyramid's own json renderer stays
        config_.add_renderer("json", JSON(**options))
    config_.add_renderer("fast_json", JSON(**options))
    if importlib.util.find_spec("cornice") is not None:
        from cornice.renderer import CorniceRenderer

        config_.add_renderer("cornice_json", CorniceRenderer(**options))
        config_.add_renderer("cornice_fast_json", CorniceRenderer(**options))


def init(config_: Any) -> None:
    """6.x's set-up (deprecated): use ``config.include("c2cwsgiutils.pretty_json")``."""
    from c2cwsgiutils._deprecated import warn

    warn("c2cwsgiutils.pretty_json.init", 'config.include("c2cwsgiutils.pretty_json")')
    includeme(config_)
