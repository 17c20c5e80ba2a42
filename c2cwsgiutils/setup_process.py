"""Set-up of processes that are not the web application (scripts, workers), as in 6.x::

    parser = argparse.ArgumentParser()
    c2cwsgiutils.setup_process.fill_arguments(parser)
    args = parser.parse_args()
    env = c2cwsgiutils.setup_process.bootstrap_application_from_options(args)
    settings = env["registry"].settings

``init(config_uri)`` only configures logging, Sentry and the broadcast from the ini, without
building the application. URIs default to ``c2c:///app/production.ini`` (:mod:`c2cwsgiutils.loader`:
the environment is available for interpolation).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypedDict, cast

__all__ = [
    "PyramidEnv",
    "bootstrap_application",
    "bootstrap_application_from_options",
    "fill_arguments",
    "init",
    "init_logging",
]

DEFAULT_CONFIG_URI = "c2c:///app/production.ini"


class PyramidEnv(TypedDict, total=True):
    """What the bootstrap functions return (:func:`pyramid.paster.bootstrap`'s dictionary)."""

    root: Any
    closer: Callable[..., Any]
    registry: Any
    request: Any
    root_factory: object
    app: Callable[[dict[str, str], Any], Any]


def fill_arguments(
    parser: argparse.ArgumentParser, use_attribute: bool = False, default_config_uri: str = DEFAULT_CONFIG_URI
) -> None:
    """Add the arguments ``config_uri`` and ``config_vars`` (options with ``use_attribute``)."""
    parser.add_argument(
        "--config-uri" if use_attribute else "config_uri",
        nargs="?",
        default=default_config_uri,
        help="The URI of the configuration file.",
    )
    parser.add_argument(
        "--config-vars" if use_attribute else "config_vars",
        nargs="*",
        default=(),
        help="Variables of the configuration file, e.g. http_port=8080 for %%(http_port)s.",
    )


def init(config_file: str = DEFAULT_CONFIG_URI) -> None:
    """Configure logging, Sentry and the broadcast of a process from the ini (no application)."""
    from pyramid.scripts.common import get_config_loader

    from c2cwsgiutils import broadcast, config, sentry

    loader = get_config_loader(config_file)
    loader.setup_logging(None)
    settings = loader.get_settings()
    config.validate_all(settings)
    sentry.init(settings)
    broadcast.setup(settings)


def init_logging(config_file: str = DEFAULT_CONFIG_URI) -> None:
    """Configure logging only (deprecated in 6.x already): use :func:`init`."""
    from pyramid.scripts.common import get_config_loader

    from c2cwsgiutils._deprecated import warn

    warn("c2cwsgiutils.setup_process.init_logging", "c2cwsgiutils.setup_process.init")
    get_config_loader(config_file).setup_logging(None)


def bootstrap_application_from_options(options: argparse.Namespace) -> PyramidEnv:
    """:func:`bootstrap_application` with the arguments added by :func:`fill_arguments`."""
    from pyramid.scripts.common import parse_vars

    return bootstrap_application(
        options.config_uri, parse_vars(options.config_vars) if options.config_vars else None
    )


def bootstrap_application(
    config_uri: str = DEFAULT_CONFIG_URI, options: dict[str, Any] | None = None
) -> PyramidEnv:
    """Configure logging and build the application (:func:`pyramid.paster.bootstrap`)."""
    from pyramid.paster import bootstrap
    from pyramid.scripts.common import get_config_loader

    get_config_loader(config_uri).setup_logging(options)
    return cast(PyramidEnv, bootstrap(config_uri, options=options))
