"""``c2cwsgiutils_run`` (also ``c2cwsgiutils-run``): serve the WSGI application of an ini file with gunicorn.

Usage::

    c2cwsgiutils_run [--paste FILE] [gunicorn options, e.g. --bind 0.0.0.0:8080 --workers 2]

The ini file is ``--paste FILE``, else ``$C2CWSGIUTILS_CONFIG``, else ``/app/production.ini``. It
may use ``%(ENV_NAME)s`` for any environment variable (see :mod:`c2cwsgiutils.paste_config`) and
its logging sections configure logging. Before gunicorn starts, a short-lived child process checks
that the file loads and that every ``C2C_*`` setting is valid: any problem is one line on stderr and
a non-zero exit (1: ini file, 2: invalid setting), never a traceback.

The check runs in a child because loading the ini imports the application's modules: the master
must not hold them, or the workers it forks on ``SIGHUP`` (``c2cwsgiutils_reload``) would serve the
code that was there when it started instead of the new one.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
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


def _validate(ini: Path) -> None:
    """Load the ini's application settings and validate every declared setting; exit on a problem.

    Imports the application's factory module and every feature: call it in a child process only.
    """
    from c2cwsgiutils import config
    from c2cwsgiutils.pyramid import import_features

    try:
        settings = paste_config.load_settings(ini)
        # So that the warnings of the validation (6.x settings ...) go through the ini's handlers.
        paste_config.setup_logging(ini)
    except paste_config.IniError as error:
        _fail(str(error), EXIT_INI)
    try:
        import_features()
        config.validate_all(settings, os.environ)
    except config.ConfigError as error:
        _fail(str(error), EXIT_SETTINGS)


def _exit_code(error: SystemExit) -> int:
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code
    print(error.code, file=sys.stderr)
    return 1


# Signals gunicorn's master handles: a check child forked from it must not run those handlers.
_MASTER_SIGNALS = tuple(
    getattr(signal, name)
    for name in (
        "SIGHUP",
        "SIGTERM",
        "SIGINT",
        "SIGQUIT",
        "SIGUSR1",
        "SIGUSR2",
        "SIGCHLD",
        "SIGTTIN",
        "SIGTTOU",
    )
    if hasattr(signal, name)
)


def _in_child(function: Callable[[Path], None], ini: Path) -> int:
    """Run ``function(ini)`` in a forked child process and return its exit status.

    Whatever the child imports (the application's modules) stays out of this process. ``SIGCHLD``
    is blocked meanwhile, so that a gunicorn master (which reaps any child on that signal in
    older gunicorn versions) leaves this one to us.
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        pid = os.fork()
        if pid == 0:  # the child: never returns into the caller's code
            _run_child(function, ini, mask)
        _, status = os.waitpid(pid, 0)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return os.waitstatus_to_exitcode(status)


def _run_child(function: Callable[[Path], None], ini: Path, mask: Iterable[int]) -> NoReturn:
    code = 1
    try:
        for signum in _MASTER_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        # Gunicorn puts its directory (--chdir, the current one by default) first on sys.path
        # before it loads the application: so does the check, or `use = call:hello:main` with
        # hello.py beside the ini would fail here and work in the workers.
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        function(ini)
        code = 0
    except SystemExit as error:
        code = _exit_code(error)
    except BaseException:  # reported, then the child ends whatever happened
        traceback.print_exc()
    finally:
        logging.shutdown()  # flush the ini's handlers (a collector handler ships its records)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code)


def check(ini: Path) -> bool:
    """Validate the ini and every declared setting in a child process, then configure logging here.

    Returns whether the ini configured logging; exits with the child's status (its one-line
    message is already on stderr) when something is wrong.
    """
    code = _in_child(_validate, ini)
    if code < 0:
        _fail(f"the check of {ini} was killed by signal {-code}", EXIT_INI)
    if code:
        sys.exit(code)
    try:
        return paste_config.setup_logging(ini)
    except paste_config.IniError as error:
        _fail(str(error), EXIT_INI)


def _gunicorn_application(ini: Path, ini_logging: bool) -> Any:
    from gunicorn.app.base import Application, BaseApplication
    from gunicorn.arbiter import Arbiter
    from gunicorn.glogging import Logger

    class IniLogger(Logger):  # type: ignore[misc]
        """Gunicorn's logger, but its messages to stderr/stdout go through the ini's handlers.

        So that, with a JSON handler in the ini, gunicorn's own lines are JSON too. A log file
        given with ``--error-logfile``/``--access-logfile`` keeps gunicorn's own handler.
        """

        def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
            """Gunicorn's access-log atoms, with secrets redacted from the request line, the query
            string, the referrer and the credential headers (issue #18): the line reaches every
            handler of the ini, the collector's included."""
            from c2cwsgiutils.redaction import REDACTED, SECRET_HEADERS, redact_query, redact_url

            atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
            for key in ("r", "f"):
                if isinstance(atoms.get(key), str):
                    atoms[key] = redact_url(atoms[key])
            if isinstance(atoms.get("q"), str):
                atoms["q"] = redact_query(atoms["q"])
            for header in SECRET_HEADERS:
                if f"{{{header}}}i" in atoms:
                    atoms[f"{{{header}}}i"] = REDACTED
            return atoms

        def setup(self, cfg: Any) -> None:
            before = {log: list(log.handlers) for log in (self.error_log, self.access_log)}
            super().setup(cfg)
            if not ini_logging:
                return
            for log, target in ((self.error_log, cfg.errorlog), (self.access_log, cfg.accesslog)):
                if target == "-":
                    for handler in list(log.handlers):
                        if handler not in before[log]:
                            log.removeHandler(handler)
                    log.propagate = True

    class CheckingArbiter(Arbiter):  # type: ignore[misc]
        """Gunicorn's master, which checks the ini and the settings again before a reload.

        A worker that cannot boot (an invalid setting, an application that no longer imports)
        makes gunicorn stop altogether: such a reload is refused instead, the running workers stay.
        """

        def handle_hup(self) -> None:
            if _in_child(_validate, ini):
                self.log.error(
                    "Reload refused: the check of %s failed (see the line above); the workers keep "
                    "running the previous code and settings",
                    ini,
                )
                return
            super().handle_hup()

    class CheckingArbiterRun(BaseApplication):  # type: ignore[misc]
        """``BaseApplication.run`` with our arbiter.

        Placed between gunicorn's ``Application`` and ``BaseApplication`` in the method resolution
        order, so that ``Application.run`` (daemon, python path ...) ends here without patching.
        """

        def run(self) -> None:
            try:
                CheckingArbiter(self).run()
            except RuntimeError as error:  # as gunicorn's own run()
                print(f"\nError: {error}\n", file=sys.stderr, flush=True)
                sys.exit(1)

    class PasteApplication(Application, CheckingArbiterRun):  # type: ignore[misc]
        """Gunicorn's own command line and config file handling, our ini loading."""

        def init(self, parser: Any, opts: Any, args: list[str]) -> dict[str, Any]:
            if args:
                parser.error(
                    f"unexpected argument(s) {' '.join(args)}: the application comes from the ini file "
                    "(--paste FILE or $C2CWSGIUTILS_CONFIG)"
                )
            return {"logger_class": IniLogger}  # a default: --logger-class still wins

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
        ini_logging = check(ini)
    else:  # gunicorn prints its help or version and exits
        ini, ini_logging = Path(paste or paste_config.DEFAULT_INI), False
    # Gunicorn parses sys.argv itself (again on SIGHUP): leave it only its own options.
    sys.argv = [sys.argv[0] if sys.argv else PROG, *gunicorn_args]
    _gunicorn_application(ini, ini_logging).run()


if __name__ == "__main__":
    main()
