"""Loading of ini files (PasteDeploy format) with the environment available for interpolation.

Every environment variable can be used in the ini file as ``%(ENV_NAME)s``. The environment
beats a value of the same name in the ini's ``[DEFAULT]`` section, so ``[DEFAULT]`` gives
defaults for variables that may be unset::

    [DEFAULT]
    SQLALCHEMY_URL =

    [app:main]
    use = egg:my_service
    sqlalchemy.url = %(SQLALCHEMY_URL)s

A ``%`` inside an environment value is escaped before it reaches :mod:`configparser`, so it never
breaks parsing. The same ini file's ``[loggers]``/``[handlers]``/``[formatters]`` sections
configure logging (:func:`setup_logging`).

Every function raises :class:`IniError`, whose message is one line, when the file is missing or
broken: command-line tools print it instead of a traceback.

Used by ``c2cwsgiutils_run`` and meant to be reused by every tool that reads the service's ini
(collector CLI, Celery worker set-up ...).
"""

from __future__ import annotations

import configparser
import logging.config
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_INI",
    "INI_ENV",
    "IniError",
    "env_defaults",
    "get_app",
    "load_settings",
    "logging_dict",
    "read_ini",
    "resolve_ini",
    "setup_logging",
]

DEFAULT_INI = "/app/production.ini"
INI_ENV = "C2CWSGIUTILS_CONFIG"

# Names PasteDeploy defines itself; an environment variable must not replace them.
_RESERVED = frozenset(("here", "__file__"))


class IniError(Exception):
    """A missing or broken ini file; the message is one line meant for the user."""


def resolve_ini(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The ini file to use: ``path`` if given, else ``$C2CWSGIUTILS_CONFIG``, else ``/app/production.ini``.

    Raises :class:`IniError` when that file does not exist or is not readable.
    """
    env = os.environ if environ is None else environ
    chosen = Path(path or env.get(INI_ENV) or DEFAULT_INI).expanduser().absolute()
    if not chosen.is_file():
        raise IniError(
            f"ini file {chosen} not found (give another one with --paste FILE or the {INI_ENV} "
            "environment variable)"
        )
    if not os.access(chosen, os.R_OK):
        raise IniError(f"ini file {chosen} is not readable")
    return chosen


def env_defaults(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment as interpolation defaults: every ``%`` doubled so configparser reads it back."""
    env = os.environ if environ is None else environ
    return {
        key: value.replace("%", "%%")
        for key, value in env.items()
        if key not in _RESERVED and "%" not in key and "\n" not in key
    }


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def read_ini(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> configparser.ConfigParser:
    """The whole ini file as a :class:`configparser.ConfigParser` (keys keep their case).

    The environment is merged into ``[DEFAULT]`` (beating the file's own values) and ``here`` /
    ``__file__`` are defined as PasteDeploy does, so ``parser.get(section, key)`` interpolates like
    the application's settings. Use it for tool-specific sections.
    """
    ini = Path(path).absolute()
    parser = configparser.ConfigParser(
        defaults={"here": str(ini.parent), "__file__": str(ini)},
        interpolation=configparser.BasicInterpolation(),
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        with ini.open(encoding="utf-8") as file:
            parser.read_file(file)
    except OSError as error:
        raise IniError(f"cannot read ini file {ini}: {error.strerror or error}") from None
    except (configparser.Error, UnicodeDecodeError) as error:
        raise IniError(f"broken ini file {ini}: {_one_line(error)}") from None
    parser.read_dict({parser.default_section: env_defaults(environ)})
    return parser


def _app_context(
    path: str | os.PathLike[str], name: str, environ: Mapping[str, str] | None, wrap_all: bool = True
) -> Any:
    from paste.deploy import loadwsgi

    ini = Path(path).absolute()
    defaults = env_defaults(environ)
    try:
        loader = loadwsgi.ConfigLoader(str(ini))
        # PasteDeploy lets the file's [DEFAULT] win over the given defaults; we want the opposite
        # (the environment beats the ini), hence overwrite=True before building the context.
        loader.update_defaults(defaults, overwrite=True)
        return loader.get_context(loadwsgi.APP, name, global_conf=defaults)
    except OSError as error:
        raise IniError(f"cannot read ini file {ini}: {error.strerror or error}") from None
    except (configparser.Error, LookupError, ValueError) as error:
        raise IniError(f"broken ini file {ini} ([app:{name}]): {_one_line(error)}") from None
    except Exception as error:  # importing the application's module can raise anything
        if not wrap_all:
            raise
        raise IniError(f"cannot load the application of {ini} ([app:{name}]): {_one_line(error)}") from None


def load_settings(
    path: str | os.PathLike[str], name: str = "main", environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The settings of the ``[app:NAME]`` section, interpolated, as the application receives them.

    Raises :class:`IniError` when the file is missing, unparsable or has no such application.
    """
    context = _app_context(path, name, environ)
    return {str(key): str(value) for key, value in context.local_conf.items()}


def _keys(parser: configparser.ConfigParser, section: str) -> list[str]:
    if not parser.has_section(section):
        return []
    return [key.strip() for key in parser.get(section, "keys", fallback="").split(",") if key.strip()]


def logging_dict(parser: configparser.ConfigParser) -> dict[str, Any]:
    """The ``[loggers]``/``[handlers]``/``[formatters]`` sections as a :func:`logging.config.dictConfig` dict.

    Handlers take ``kwargs = {...}`` (a Python literal), so ``{'stream': 'ext://sys.stdout'}`` is
    resolved as :mod:`logging.config` resolves ``ext://`` values, which ``fileConfig`` does not do;
    a ``class`` without a dot is taken from :mod:`logging`. Raises ``ValueError`` on a handler with
    positional ``args`` (only ``fileConfig`` reads those).
    """
    import ast

    handlers: dict[str, Any] = {}
    for name in _keys(parser, "handlers"):
        block = parser[f"handler_{name}"]
        if "args" in block:
            raise ValueError(f"handler {name} has positional args; use kwargs")
        class_name = block["class"].strip()
        handler: dict[str, Any] = {"class": class_name if "." in class_name else f"logging.{class_name}"}
        for key in ("level", "formatter"):
            if block.get(key, "").strip():
                handler[key] = block[key].strip()
        if block.get("filters", "").strip():
            handler["filters"] = [f.strip() for f in block["filters"].split(",") if f.strip()]
        if "kwargs" in block:
            handler.update(ast.literal_eval(block["kwargs"]))
        handlers[name] = handler
    formatters: dict[str, Any] = {}
    for name in _keys(parser, "formatters"):
        block = parser[f"formatter_{name}"]
        formatter: dict[str, Any] = {
            "format": block.get("format", raw=True, fallback=None),
            "datefmt": block.get("datefmt", raw=True, fallback=None),
            "style": block.get("style", raw=True, fallback="%"),
        }
        if block.get("class", raw=True, fallback=""):
            formatter["class"] = block.get("class", raw=True)
        formatters[name] = formatter
    loggers: dict[str, Any] = {}
    root: dict[str, Any] = {}
    for name in _keys(parser, "loggers"):
        block = parser[f"logger_{name}"]
        logger: dict[str, Any] = {
            "handlers": [h.strip() for h in block.get("handlers", "").split(",") if h.strip()]
        }
        if block.get("level", "").strip():
            logger["level"] = block["level"].strip()
        if name == "root":
            root = logger
            continue
        logger["propagate"] = block.get("propagate", "1").strip() not in ("0", "false", "False")
        loggers[block.get("qualname", name)] = logger
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": root,
        "loggers": loggers,
        "handlers": handlers,
        "formatters": formatters,
    }


def setup_logging(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> bool:
    """Configure logging from the ini's ``[loggers]``/``[handlers]``/``[formatters]`` sections.

    Through :func:`logging_dict` (``kwargs`` with ``ext://`` values, as the 6.x logging template
    writes them); a file whose handlers use positional ``args`` or ``kwargs`` that are Python
    expressions (``{'stream': sys.stdout}``) goes through ``fileConfig``.
    Loggers that already exist stay enabled. Returns ``False`` (and changes nothing) when the file
    has no ``[loggers]`` section; raises :class:`IniError` when those sections are broken.
    """
    parser = read_ini(path, environ)
    if not parser.has_section("loggers"):
        return False
    try:
        try:
            config = logging_dict(parser)
        except (ValueError, SyntaxError):  # positional args, or kwargs that are Python expressions
            logging.config.fileConfig(parser, disable_existing_loggers=False)
        else:
            logging.config.dictConfig(config)
    except Exception as error:  # fileConfig / dictConfig raise KeyError, ValueError, ImportError ...
        raise IniError(
            f"broken logging configuration in {Path(path).absolute()}: {_one_line(error)}"
        ) from None
    return True


def get_app(
    path: str | os.PathLike[str], name: str = "main", environ: Mapping[str, str] | None = None
) -> Callable[..., Any]:
    """Build the WSGI application of the ``[app:NAME]`` section (calls its factory).

    Only a missing or unparsable file becomes an :class:`IniError`; errors while importing or
    running the application's factory propagate unchanged (with their traceback).
    """
    return _app_context(path, name, environ, wrap_all=False).create()  # type: ignore[no-any-return]
