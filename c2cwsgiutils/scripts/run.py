"""``c2cwsgiutils_run`` (also ``c2cwsgiutils-run``): serve the WSGI application of an ini file with gunicorn.

Usage::

    c2cwsgiutils_run [--paste FILE] [gunicorn options, e.g. --bind 0.0.0.0:8080 --workers 2]

The ini file is ``--paste FILE``, else ``$C2CWSGIUTILS_CONFIG``, else ``/app/production.ini``. It
may use ``%(ENV_NAME)s`` for any environment variable (see :mod:`c2cwsgiutils.paste_config`) and
its logging sections configure logging. Before gunicorn starts, the master process checks that the
file loads and that every ``C2C_*`` setting is valid: any problem is one line on stderr and a
non-zero exit (1: ini file, 2: invalid setting), never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from c2cwsgiutils import paste_config

PROG = "c2cwsgiutils_run"
USAGE = (
    "%(prog)s [--paste FILE] [gunicorn options]\n\n"
    "Serves the [app:main] application of the ini file --paste FILE (default: $C2CWSGIUTILS_CONFIG, "
    "else /app/production.ini) with gunicorn; every other option is gunicorn's."
)
EXIT_INI = 1
EXIT_SETTINGS = 2
_INFO_OPTIONS = frozenset(("-h", "--help", "-v", "--version"))


def _fail(message: str, code: int) -> NoReturn:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def _split_arguments(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """Our ``--paste FILE`` and everything else, which belongs to gunicorn."""
    parser = argparse.ArgumentParser(prog=PROG, add_help=False, allow_abbrev=False)
    parser.add_argument("--paste", "--paster", dest="paste", default=None)
    known, rest = parser.parse_known_args(list(argv))
    return known.paste, rest


def check(ini: Path) -> None:
    """Load the ini's settings, configure logging and validate every declared setting.

    Exits with a one-line message on stderr when something is wrong.
    """
    from c2cwsgiutils import config
    from c2cwsgiutils.pyramid import import_features

    try:
        settings = paste_config.load_settings(ini)
        paste_config.setup_logging(ini)
    except paste_config.IniError as error:
        _fail(str(error), EXIT_INI)
    try:
        import_features()
        config.validate_all(settings, os.environ)
    except config.ConfigError as error:
        _fail(str(error), EXIT_SETTINGS)


def _gunicorn_application(ini: Path) -> Any:
    from gunicorn.app.base import Application

    class PasteApplication(Application):  # type: ignore[misc]
        """Gunicorn's own command line and config file handling, our ini loading."""

        def init(self, parser: Any, opts: Any, args: list[str]) -> None:
            if args:
                parser.error(
                    f"unexpected argument(s) {' '.join(args)}: the application comes from the ini file "
                    "(--paste FILE or $C2CWSGIUTILS_CONFIG)"
                )

        def load(self) -> Callable[..., Any]:
            # Runs in each worker (or once in the master with --preload).
            return paste_config.get_app(ini)

    return PasteApplication(usage=USAGE, prog=PROG)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``c2cwsgiutils_run``."""
    paste, gunicorn_args = _split_arguments(sys.argv[1:] if argv is None else argv)
    if _INFO_OPTIONS.isdisjoint(gunicorn_args):
        try:
            ini = paste_config.resolve_ini(paste)
        except paste_config.IniError as error:
            _fail(str(error), EXIT_INI)
        check(ini)
    else:  # gunicorn prints its help or version and exits
        ini = Path(paste or paste_config.DEFAULT_INI)
    # Gunicorn parses sys.argv itself (again on SIGHUP): leave it only its own options.
    sys.argv = [sys.argv[0] if sys.argv else PROG, *gunicorn_args]
    _gunicorn_application(ini).run()


if __name__ == "__main__":
    main()
