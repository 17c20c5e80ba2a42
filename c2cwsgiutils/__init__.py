"""c2cwsgiutils: operations toolkit for Pyramid/WSGI services.

Importing this package is cheap: it imports no web framework, database or broker library.
Features are in their own modules (``c2cwsgiutils.context``, ``c2cwsgiutils.config`` ...) and are
wired into a Pyramid application with ``config.include("c2cwsgiutils.pyramid")``.

The package itself exports only :data:`__all__`. The public modules are listed in the README's
"Public API" section; the others are internal (a leading underscore, or a docstring starting with
"Internal.").
"""

import os  # noqa: F401 - 6.x's tests and applications patch c2cwsgiutils.os.environ
from typing import Any

from c2cwsgiutils.config import ConfigError

__all__ = ["ConfigError", "__version__", "get_config_defaults", "get_logconfig_dict", "get_paste_config"]

_GUNICORN_CONF = frozenset(("get_config_defaults", "get_logconfig_dict", "get_paste_config"))


def __getattr__(name: str) -> Any:
    # The gunicorn.conf.py helpers of 6.x, imported on first use to keep this package cheap.
    if name in _GUNICORN_CONF:
        from c2cwsgiutils import gunicorn_conf

        return getattr(gunicorn_conf, name)
    raise AttributeError(f"module 'c2cwsgiutils' has no attribute {name!r}")


__version__ = "7.0.0.dev0"
