"""Helpers for a ``gunicorn.conf.py`` that serves an ini file, as 6.x's demo does::

    from c2cwsgiutils import get_config_defaults, get_logconfig_dict, get_paste_config

    paste = get_paste_config()          # --paste FILE on gunicorn's command line, else C2CWSGIUTILS_CONFIG
    wsgi_app = paste
    logconfig_dict = get_logconfig_dict(paste)
    raw_paste_global_conf = ["=".join(e) for e in get_config_defaults().items()]

Re-exported by :mod:`c2cwsgiutils` (imported on first use). ``c2cwsgiutils_run`` does all this
without a ``gunicorn.conf.py``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["get_config_defaults", "get_logconfig_dict", "get_paste_config"]

LOG = logging.getLogger(__name__)


def get_config_defaults(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment as ini interpolation defaults, ``%`` escaped.

    configparser folds the case of keys: of two variables differing only by case, the first is
    kept and the other reported by a warning (as 6.x did).
    """
    env = os.environ if environ is None else environ
    result: dict[str, str] = {}
    seen: set[str] = set()
    for key, value in env.items():
        if key.lower() in seen:
            LOG.warning("The environment variable '%s' is duplicated with different case, ignoring", key)
            continue
        seen.add(key.lower())
        result[key] = value.replace("%", "%%")
    return result


def get_logconfig_dict(filename: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The logging sections of the ini ``filename`` as a ``dictConfig`` dict (for ``logconfig_dict``).

    Interpolated with the environment; ``kwargs = {'stream': 'ext://sys.stdout'}`` is resolved.
    """
    from c2cwsgiutils import paste_config

    return paste_config.logging_dict(paste_config.read_ini(filename, environ))


def get_paste_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The ini file: ``--paste FILE`` / ``--paster=FILE`` of the command line, else
    ``$C2CWSGIUTILS_CONFIG``, else ``production.ini``."""
    args = list(sys.argv if argv is None else argv)
    for index, value in enumerate(args):
        if value.startswith(("--paste=", "--paster=")):
            return value.split("=", 1)[1]
        if value in ("--paste", "--paster") and index + 1 < len(args):
            return args[index + 1]
    env = os.environ if environ is None else environ
    return env.get("C2CWSGIUTILS_CONFIG", "production.ini")
