"""``c2cwsgiutils_reload``: ask gunicorn to reload gracefully (new code and settings, no request dropped).

gunicorn reloads on ``SIGHUP``: its master starts new workers, then stops the old ones once they
have finished their requests; the master and its listening sockets stay. This command finds the
master and sends it that signal. The master is, in this order:

1. the PID given with ``--pid``;
2. the PID written in the file given with ``--pid-file`` or ``C2C_GUNICORN_PID_FILE`` (gunicorn's
   own ``--pid FILE`` option writes one);
3. PID 1 when it is gunicorn (the usual container, where gunicorn or ``c2cwsgiutils_run`` is the
   entry point);
4. the only gunicorn master among this machine's processes (a gunicorn process whose parent is
   not gunicorn); several masters is an error that asks for ``--pid-file``.

A process counts as gunicorn when its program is ``gunicorn`` or ``c2cwsgiutils_run`` (also run as
``python -m``), or when its title starts with ``gunicorn:`` (gunicorn with ``setproctitle``).

A process that is not gunicorn is never signalled (``SIGHUP`` makes many daemons, init among them,
do something else). ``--wait SECONDS`` waits until every old worker is gone and as many new ones
run, and fails when that takes longer or the master exits. Process discovery reads ``/proc`` (Linux).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

__all__ = ["ReloadError", "find_master", "main", "reload", "workers_of"]

PID_FILE_ENV = "C2C_GUNICORN_PID_FILE"
_PROC = Path("/proc")


class ReloadError(RuntimeError):
    """The master could not be found or signalled; the message says what to do."""


def _cmdline(pid: int) -> list[str]:
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode("utf-8", "replace").rstrip("\0").split("\0")


# The programs that run a gunicorn master: gunicorn itself and c2cwsgiutils_run (which runs it in
# its own process, so its command line never says gunicorn). A module name for "python -m".
_GUNICORN_PROGRAMS = frozenset(
    ("gunicorn", "c2cwsgiutils_run", "c2cwsgiutils-run", "c2cwsgiutils.scripts.run")
)


def _is_gunicorn(pid: int) -> bool:
    # "/venv/bin/gunicorn ...", "python /venv/bin/gunicorn ...", "python -m gunicorn ...", the same
    # with c2cwsgiutils_run or, with setproctitle, "gunicorn: master [app]"; not any process that
    # merely mentions gunicorn in a later argument.
    for arg in _cmdline(pid)[:3]:
        if arg.startswith("gunicorn:") or os.path.basename(arg) in _GUNICORN_PROGRAMS:
            return True
    return False


def _parent(pid: int) -> int | None:
    try:
        stat = (_PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name (2nd field) may hold spaces and parentheses: the fields after it are safe.
    return int(stat.rsplit(")", 1)[1].split()[1])


def _all_pids() -> list[int]:
    return [int(entry.name) for entry in _PROC.iterdir() if entry.name.isdigit()]


def workers_of(master: int) -> set[int]:
    """The PIDs of the processes whose parent is ``master`` (its workers)."""
    return {pid for pid in _all_pids() if _parent(pid) == master}


def find_master(pid: int | None = None, pid_file: str | None = None) -> int:
    """The PID of the gunicorn master to reload (see the module's documentation for the order).

    Raises :class:`ReloadError` when none or several are found, or the target is not gunicorn.
    """
    if pid is None and pid_file:
        try:
            pid = int(Path(pid_file).read_text(encoding="ascii").strip())
        except (OSError, ValueError) as exc:
            raise ReloadError(f"cannot read a PID from {pid_file} ({exc})") from None
    if pid is not None:
        if _PROC.is_dir() and not _is_gunicorn(pid):
            raise ReloadError(f"process {pid} is not a running gunicorn; give the master's PID or pid file")
        return pid
    if not _PROC.is_dir():
        raise ReloadError("cannot look for gunicorn without /proc; give --pid or --pid-file")
    if _is_gunicorn(1):
        return 1
    masters = sorted(
        candidate
        for candidate in _all_pids()
        if candidate != os.getpid() and _is_gunicorn(candidate) and not _is_gunicorn(_parent(candidate) or 0)
    )
    if not masters:
        raise ReloadError("no gunicorn master runs here; give --pid or --pid-file")
    if len(masters) > 1:
        raise ReloadError(
            f"several gunicorn masters run here ({', '.join(map(str, masters))}); give --pid or --pid-file"
        )
    return masters[0]


def reload(master: int, wait: float = 0.0) -> tuple[set[int], set[int]]:
    """Send ``SIGHUP`` to ``master``; with ``wait`` > 0, wait for the workers to be replaced.

    Returns the workers before and after. Raises :class:`ReloadError` when the signal cannot be
    sent or the workers were not replaced within ``wait`` seconds.
    """
    before = workers_of(master) if _PROC.is_dir() else set()
    try:
        os.kill(master, signal.SIGHUP)
    except OSError as exc:
        raise ReloadError(f"cannot signal gunicorn master {master} ({exc.strerror})") from None
    if wait <= 0:
        return before, set()
    deadline = time.monotonic() + wait
    while True:
        after = workers_of(master)
        # New workers start before the old ones stop: done when no old one is left and as many run.
        if not (after & before) and len(after) >= len(before):
            return before, after
        if not (_PROC / str(master)).exists():
            raise ReloadError(f"gunicorn master {master} exited during the reload; see its log")
        if time.monotonic() > deadline:
            raise ReloadError(
                f"gunicorn master {master} did not replace its workers within {wait:g}s "
                f"(before: {sorted(before)}, now: {sorted(after)}); see its log (c2cwsgiutils_run "
                "refuses a reload whose ini, settings or application do not load)"
            )
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit status (0 done, 1 failed)."""
    parser = argparse.ArgumentParser(
        prog="c2cwsgiutils_reload", description="Ask gunicorn to reload its workers gracefully (SIGHUP)."
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--pid", type=int, help="PID of the gunicorn master")
    target.add_argument(
        "--pid-file",
        default=os.environ.get(PID_FILE_ENV) or None,
        help=f"file holding the master's PID (gunicorn --pid FILE); default: ${PID_FILE_ENV}",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait until the workers are replaced, at most this long (default: do not wait)",
    )
    args = parser.parse_args(argv)
    try:
        master = find_master(args.pid, None if args.pid is not None else args.pid_file)
        before, after = reload(master, args.wait)
    except ReloadError as exc:
        print(f"c2cwsgiutils_reload: {exc}", file=sys.stderr)
        return 1
    message = f"Sent SIGHUP to gunicorn master {master}"
    if after:
        message += f"; workers {sorted(before)} replaced by {sorted(after)}"
    print(message, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
