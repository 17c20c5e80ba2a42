"""``c2cwsgiutils-logs``: serve the collector, migrate its schema, hash a secret, read and feed it.

    c2cwsgiutils-logs serve [--host H] [--port P] [--db-url URL] [--workers N] [--threads N] [--server S]
                            [--ingest-port P] [--forward URL]
    c2cwsgiutils-logs migrate [--db-url URL]
    c2cwsgiutils-logs hash-secret            (reads the secret on stdin)
    c2cwsgiutils-logs tail|query|count|timeline|request|status ...   (see cli_read)
    c2cwsgiutils-logs ingest FILE...|- ...                            (see cli_ingest)

``serve`` applies the migrations once in the master process (unless
``C2C_COLLECTOR_AUTO_MIGRATE=false``), then runs granian (default; HTTP and keep-alive handled
in Rust, the WSGI application in ``workers`` processes with ``threads`` blocking threads each;
one process with SQLite unless told otherwise) or
gunicorn with ``gthread`` workers. With ``--forward URL`` it is a relay (no database, no
migration): see :mod:`c2cwsgiutils.collector.relay.forward`. With ``--ingest-port P`` it also serves
``POST /api/v1/record`` alone on port P, from a child process ingesting one request at a time: see
:mod:`c2cwsgiutils.collector.http.ingest_port`. Options override the
``C2C_COLLECTOR_*`` environment variables.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

LOG = logging.getLogger("c2cwsgiutils.collector")

_OVERRIDES = {
    "host": "C2C_COLLECTOR_HOST",
    "port": "C2C_COLLECTOR_PORT",
    "db_url": "C2C_COLLECTOR_DB_URL",
    "workers": "C2C_COLLECTOR_WORKERS",
    "threads": "C2C_COLLECTOR_THREADS",
    "server": "C2C_COLLECTOR_SERVER",
    "ingest_port": "C2C_COLLECTOR_INGEST_PORT",
    "forward": "C2C_COLLECTOR_FORWARD_URL",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="c2cwsgiutils-logs", description="The c2cwsgiutils log collector.")
    # Also accepted before the sub-command (`c2cwsgiutils-logs --url URL status`); after it wins.
    parser.add_argument(
        "--url", dest="global_url", help="collector base URL, for the sub-commands that take one"
    )
    parser.add_argument("--token", dest="global_token", help="API token, for the sub-commands that take one")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run the collector (granian by default, gunicorn with --server gunicorn)"
    )
    serve.add_argument("--host", help="listen address (default C2C_COLLECTOR_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default C2C_COLLECTOR_PORT or 8090)")
    serve.add_argument("--db-url", help="storage URL (default C2C_COLLECTOR_DB_URL)")
    serve.add_argument("--workers", type=int, help="worker processes (default C2C_COLLECTOR_WORKERS)")
    serve.add_argument("--threads", type=int, help="threads per worker (default C2C_COLLECTOR_THREADS)")
    serve.add_argument("--server", choices=("granian", "gunicorn"), help="HTTP server (default granian)")
    serve.add_argument(
        "--ingest-port",
        type=int,
        help="also take POST /api/v1/record alone on this port (default C2C_COLLECTOR_INGEST_PORT)",
    )
    # The child process that serves the ingest port (started by serve itself, not for users).
    serve.add_argument("--ingest-listener", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument(
        "--forward",
        metavar="URL",
        help="relay mode: forward to this upstream collector (default C2C_COLLECTOR_FORWARD_URL)",
    )
    migrate = commands.add_parser("migrate", help="apply the schema migrations and exit")
    migrate.add_argument("--db-url", help="storage URL (default C2C_COLLECTOR_DB_URL)")
    commands.add_parser(
        "hash-secret", help="print the hash of a secret (read on stdin) for the credentials file"
    )
    from c2cwsgiutils.collector.cli import ingest as cli_ingest
    from c2cwsgiutils.collector.cli import read as cli_read

    cli_read.add_parsers(commands)
    cli_ingest.add_parser(commands)
    return parser


def _apply_overrides(args: argparse.Namespace) -> None:
    # Environment variables beat ini keys, and gunicorn workers inherit them: options go there.
    for attribute, env in _OVERRIDES.items():
        value = getattr(args, attribute, None)
        if value is not None:
            os.environ[env] = str(value)


def _settings() -> Any:
    from c2cwsgiutils.collector.settings import CollectorSettings

    return CollectorSettings.from_settings({})


def serve(settings: Any, ingest_listener: bool = False) -> int:
    """Migrate, check the listen address against the credentials, then run the HTTP server(s)."""
    from c2cwsgiutils.collector.http.auth import Authenticator, check_listen_address
    from c2cwsgiutils.collector.http.ingest_port import IngestListener, die_with_parent
    from c2cwsgiutils.collector.settings import serve_workers
    from c2cwsgiutils.collector.storage.backends import migrate
    from c2cwsgiutils.config import ConfigError

    authenticator = Authenticator(settings.tokens, settings.credentials_file)
    check_listen_address(settings.host, authenticator)
    if not ingest_listener:
        check_port_free(settings.host, settings.port)
        from c2cwsgiutils import _compiled

        _compiled.warn_if_not_compiled(LOG)
    if ingest_listener:  # the child of a serve with an ingest port: that port only
        die_with_parent()
        return _run_server(settings, "create_ingest_app")
    if settings.forward_url and settings.ingest_port:
        raise ConfigError(
            "C2C_COLLECTOR_INGEST_PORT is not available in relay mode (C2C_COLLECTOR_FORWARD_URL): "
            "set it to 0 or remove it"
        )
    if settings.forward_url:
        from c2cwsgiutils.logging.collector_transport import Transport

        Transport(settings.forward_url)  # a bad URL stops here (ValueError), not in every worker
        LOG.info(
            "Relay collector: forwarding to %s, spool in %s", settings.forward_url, settings.forward_spool_dir
        )
    else:
        from c2cwsgiutils.collector.storage.backends import check_writable

        try:
            check_writable(settings.db_url)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    embedded_clickhouse = not settings.forward_url and settings.db_url.startswith("chdb:")
    if embedded_clickhouse and serve_workers(settings) > 1:
        raise ConfigError("chdb:// (embedded ClickHouse) runs in one process: set C2C_COLLECTOR_WORKERS to 1")
    if embedded_clickhouse and settings.ingest_port:
        raise ConfigError(
            "chdb:// (embedded ClickHouse) runs in one process, the ingest port is another: set "
            "C2C_COLLECTOR_INGEST_PORT to 0 (send records to the main port) or use a ClickHouse server"
        )
    # chdb's engine does not survive a fork: the worker starts it (and migrates).
    if not settings.forward_url and settings.auto_migrate and not embedded_clickhouse:
        migrate(settings.db_url)
        os.environ["C2C_COLLECTOR_AUTO_MIGRATE"] = "false"  # done once here, not in every worker
    if not settings.ingest_port:
        return _run_server(settings, "create_app")
    listener = IngestListener(settings.host, settings.ingest_port, settings.port)
    listener.start()
    try:
        return _run_server(settings, "create_app")
    finally:
        listener.stop()


def _missing_server_modules(command: str, server: str) -> list[str]:
    """The modules of the ``collector`` extra that ``serve``/``migrate`` need and cannot find."""
    import importlib.util

    needed = ["pyramid", "sqlalchemy", "alembic", "orjson"]
    if command == "serve":
        needed.append("gunicorn" if server == "gunicorn" else "granian")
    elif command != "migrate":
        return []
    return [name for name in needed if importlib.util.find_spec(name) is None]


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`ConfigError` when another process listens on ``host:port``.

    Granian binds with ``SO_REUSEPORT``: a second collector on the same port would bind too, and
    the kernel would share the connections between two collectors and their two databases. A
    socket bound without that option fails on a port anyone holds, even with ``SO_REUSEPORT``.
    """
    from c2cwsgiutils.config import ConfigError

    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no owner
        probe.bind((host.strip("[]"), port))
    except OSError as exc:
        raise ConfigError(
            f"port {port} on {host} is taken ({exc.strerror}): is another collector running? "
            "Stop it or choose another C2C_COLLECTOR_PORT / --port"
        ) from None
    finally:
        probe.close()


def _run_server(settings: Any, factory: str) -> int:
    """Run the configured HTTP server with the application ``c2cwsgiutils.collector.http.app.<factory>``."""
    if settings.server == "granian":
        return _serve_granian(settings, factory)
    return _serve_gunicorn(settings, factory)


def _announce(host: str, port: int, server: str, factory: str) -> None:
    shown = "localhost" if host in ("0.0.0.0", "::", "[::]", "") else host  # noqa: S104 - a name to show
    if factory == "create_app":
        LOG.info(
            "Collector UI on http://%s:%d/ , records to http://%s:%d/api/v1/record (%s)",
            shown,
            port,
            shown,
            port,
            server,
        )
    else:
        LOG.info("Collector ingest port: records to http://%s:%d/api/v1/record (%s)", shown, port, server)


def _serve_granian(settings: Any, factory: str) -> int:
    """Granian: HTTP parsing and keep-alive in Rust, the application in ``workers`` processes.

    Through its RSGI interface (:mod:`c2cwsgiutils.collector.http.rsgi_bridge`): request bodies arrive
    asynchronously under a deadline before the WSGI application runs in a thread of its own.
    """
    from granian import Granian
    from granian.constants import Interfaces

    _announce(settings.host, settings.port, "granian", factory)
    from c2cwsgiutils.collector.http import rsgi_bridge
    from c2cwsgiutils.collector.settings import serve_workers

    Granian(
        # Granian turns a dotted target into a path relative to the working directory and walks up
        # while it finds __init__.py files: from inside a Python package it would look for
        # "<that package>.c2cwsgiutils...". The module's own file resolves the same from anywhere.
        f"{Path(rsgi_bridge.__file__).resolve()}:{factory}",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.RSGI,
        workers=serve_workers(settings),
        websockets=False,
        respawn_failed_workers=True,
        log_access=False,
    ).serve()
    return 0


def _serve_gunicorn(settings: Any, factory: str) -> int:
    """gunicorn with gthread workers: threads serve the keep-alive connections."""
    from gunicorn.app.base import BaseApplication

    from c2cwsgiutils.collector.settings import serve_workers

    host = (
        f"[{settings.host}]" if ":" in settings.host and not settings.host.startswith("[") else settings.host
    )
    options = {
        "bind": f"{host}:{settings.port}",
        "workers": serve_workers(settings),
        "worker_class": "gthread",
        "threads": settings.threads,
        "keepalive": 75,
        "timeout": 60,
        "graceful_timeout": 15,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "c2cwsgiutils-logs",
        # gunicorn >= 25.1 opens a control socket at one fixed path per user: several collectors
        # (or a collector beside the service it watches) would fight over it.
        "control_socket_disable": True,
    }

    class CollectorApplication(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            from c2cwsgiutils.collector.http import app
            from c2cwsgiutils.collector.http.gunicorn_bodies import read_body_first

            return read_body_first(getattr(app, factory)({}))

    _announce(host, settings.port, "gunicorn", factory)
    CollectorApplication().run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``c2cwsgiutils-logs``."""
    args = _parser().parse_args(argv)
    for name in ("url", "token"):
        if getattr(args, name, None) is None and getattr(args, f"global_{name}") is not None:
            setattr(args, name, getattr(args, f"global_{name}"))
    from c2cwsgiutils.collector.cli import ingest as cli_ingest
    from c2cwsgiutils.collector.cli import read as cli_read

    if args.command in cli_read.COMMANDS:
        return cli_read.run(args)
    if args.command == "ingest":
        return cli_ingest.run(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command == "hash-secret":
        from c2cwsgiutils.collector.http.auth import hash_secret

        secret = getpass.getpass("secret: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        if not secret:
            print("empty secret", file=sys.stderr)
            return 2
        print(hash_secret(secret))
        return 0
    from c2cwsgiutils.config import ConfigError

    _apply_overrides(args)
    try:
        settings = _settings()
        missing = _missing_server_modules(args.command, settings.server)
        if missing:
            raise ConfigError(
                f"{args.command} needs {', '.join(missing)}, which the collector extra brings: "
                "pip install 'c2cwsgiutils[collector]'"
            )
        if args.command == "migrate":
            from c2cwsgiutils.collector.storage.backends import migrate

            migrate(settings.db_url)
            return 0
        return serve(settings, ingest_listener=args.ingest_listener)
    except (ConfigError, ValueError) as exc:
        print(f"c2cwsgiutils-logs: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
