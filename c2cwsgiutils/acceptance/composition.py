"""Control the composition of services under test: up, down, restart one service, logs, exec.

Two backends behind one interface:

- :class:`DockerComposeBackend` drives ``docker compose`` (for projects that ship images);
- :class:`LocalProcessesBackend` runs local processes described in a small YAML file::

      services:
        web:
          command: c2cwsgiutils_run --paste production.ini --bind 127.0.0.1:${WEB_PORT}
          env: {C2C_REDIS_URL: "redis://127.0.0.1:6379/0"}
          cwd: .                        # relative to the YAML file
          ready_url: http://127.0.0.1:${WEB_PORT}/c2c/health_check
          ready_port: 8080              # alternatively: wait for a TCP port
          ready_log: "celery@.* ready"  # alternatively: wait for a line of the log (a regex)
          ready_timeout: 60
          log: var/web.log              # default: {log_dir}/{name}.log
          depends_on: [collector]

  ``${NAME}`` and ``${NAME:-default}`` are replaced from the ``variables`` given to the backend,
  then from the environment.
"""

from __future__ import annotations

import atexit
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from c2cwsgiutils.acceptance.waiting import wait_url

__all__ = ["Backend", "Composition", "DockerComposeBackend", "LocalProcessesBackend", "ServiceSpec"]

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class Backend(Protocol):
    """What a composition backend does."""

    def up(self, services: Sequence[str] | None = None) -> None: ...
    def down(self) -> None: ...
    def start(self, service: str) -> None: ...
    def stop(self, service: str) -> None: ...
    def restart(self, service: str) -> None: ...
    def logs(self, service: str) -> str: ...
    def exec(self, service: str, command: Sequence[str]) -> subprocess.CompletedProcess[str]: ...


class Composition:
    """The services under test, whatever runs them. Usable as a context manager (``up``/``down``)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @classmethod
    def local(
        cls, path: str | Path, variables: Mapping[str, str] | None = None, log_dir: str | Path | None = None
    ) -> Composition:
        """A composition of local processes described by the YAML file at ``path``."""
        return cls(LocalProcessesBackend.from_file(path, variables, log_dir))

    @classmethod
    def docker_compose(
        cls, path: str | Path, project: str | None = None, runner: Runner | None = None
    ) -> Composition:
        """A composition driven by ``docker compose -f path``."""
        return cls(DockerComposeBackend(path, project, runner))

    def up(self, services: Sequence[str] | None = None) -> None:
        """Start the services (all by default) and wait until they are ready."""
        self.backend.up(services)

    def down(self) -> None:
        """Stop and remove every service."""
        self.backend.down()

    def start(self, service: str) -> None:
        """Start one stopped service and wait until it is ready."""
        self.backend.start(service)

    def stop(self, service: str) -> None:
        """Stop one service."""
        self.backend.stop(service)

    def restart(self, service: str) -> None:
        """Restart one service and wait until it is ready."""
        self.backend.restart(service)

    def logs(self, service: str) -> str:
        """What the service printed so far."""
        return self.backend.logs(service)

    def exec(self, service: str, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """Run ``command`` in the service's environment; returns the completed process (text output)."""
        return self.backend.exec(service, command)

    def __enter__(self) -> Composition:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()


# ---- docker compose --------------------------------------------------------------------------


def _run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False)


class DockerComposeBackend:
    """``docker compose`` commands; the runner is injectable (tests record the commands)."""

    def __init__(self, path: str | Path, project: str | None = None, runner: Runner | None = None) -> None:
        self.base = ["docker", "compose", "--file", str(path)]
        if project:
            self.base += ["--project-name", project]
        self.runner = runner or _run

    def _do(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = self.runner([*self.base, *args])
        if check and result.returncode != 0:
            raise RuntimeError(
                f"`{shlex.join([*self.base, *args])}` failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result

    def up(self, services: Sequence[str] | None = None) -> None:
        self._do("up", "--detach", "--wait", *(services or ()))

    def down(self) -> None:
        self._do("down", "--volumes", "--remove-orphans")

    def start(self, service: str) -> None:
        self._do("start", service)

    def stop(self, service: str) -> None:
        self._do("stop", service)

    def restart(self, service: str) -> None:
        self._do("restart", service)

    def logs(self, service: str) -> str:
        return self._do("logs", "--no-color", service).stdout

    def exec(self, service: str, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return self._do("exec", "-T", service, *command, check=False)


# ---- local processes -------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(value: str, variables: Mapping[str, str]) -> str:
    """Replace ``${NAME}`` / ``${NAME:-default}`` from ``variables``, then the environment."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in variables:
            return variables[name]
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise KeyError(f"variable ${{{name}}} is not set")

    return _VARIABLE.sub(replace, value)


@dataclass
class ServiceSpec:
    """One local service of a composition."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = Path()
    ready_url: str | None = None
    ready_port: int | None = None
    ready_log: str | None = None
    ready_timeout: float = 60.0
    log: Path = Path()
    depends_on: list[str] = field(default_factory=list)

    @classmethod
    def parse(
        cls, name: str, raw: Mapping[str, Any], base: Path, variables: Mapping[str, str], log_dir: Path
    ) -> ServiceSpec:
        """Build a spec from the YAML mapping of one service (``base``: the YAML file's folder)."""
        if not isinstance(raw, Mapping) or "command" not in raw:
            raise ValueError(f"service {name!r}: a mapping with a 'command' is required")
        command = raw["command"]
        argv = (
            shlex.split(expand(command, variables))
            if isinstance(command, str)
            else [expand(str(a), variables) for a in command]
        )
        env = {str(k): expand(str(v), variables) for k, v in (raw.get("env") or {}).items()}
        port = raw.get("ready_port")
        return cls(
            name=name,
            command=argv,
            env=env,
            cwd=(base / expand(str(raw.get("cwd", ".")), variables)).resolve(),
            ready_url=expand(str(raw["ready_url"]), variables) if raw.get("ready_url") else None,
            ready_port=int(expand(str(port), variables)) if port is not None else None,
            ready_log=str(raw["ready_log"]) if raw.get("ready_log") else None,
            ready_timeout=float(raw.get("ready_timeout", 60)),
            log=(base / expand(str(raw["log"]), variables)).resolve()
            if raw.get("log")
            else log_dir / f"{name}.log",
            depends_on=[str(d) for d in raw.get("depends_on") or []],
        )


class LocalProcessesBackend:
    """Runs each service as a local process group; stops them all on ``down`` and at exit."""

    def __init__(self, services: Sequence[ServiceSpec]) -> None:
        self.services = {spec.name: spec for spec in services}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        atexit.register(self.down)

    @classmethod
    def from_file(
        cls, path: str | Path, variables: Mapping[str, str] | None = None, log_dir: str | Path | None = None
    ) -> LocalProcessesBackend:
        """Read the YAML description at ``path``."""
        import yaml

        file = Path(path).resolve()
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        raw_services = data.get("services")
        if not isinstance(raw_services, Mapping) or not raw_services:
            raise ValueError(f"{file}: a non-empty 'services' mapping is required")
        logs = Path(log_dir).resolve() if log_dir else file.parent / "var" / "logs"
        specs = [
            ServiceSpec.parse(str(n), r, file.parent, variables or {}, logs) for n, r in raw_services.items()
        ]
        known = {s.name for s in specs}
        for spec in specs:
            unknown = set(spec.depends_on) - known
            if unknown:
                raise ValueError(f"{file}: service {spec.name!r} depends on unknown {sorted(unknown)}")
        return cls(specs)

    def _order(self, names: Sequence[str]) -> list[str]:
        ordered: list[str] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in path:
                raise ValueError(f"dependency cycle: {' -> '.join((*path, name))}")
            if name in ordered:
                return
            for dependency in self.services[name].depends_on:
                visit(dependency, (*path, name))
            ordered.append(name)

        for name in names:
            if name not in self.services:
                raise KeyError(f"unknown service {name!r}")
            visit(name, ())
        return ordered

    def up(self, services: Sequence[str] | None = None) -> None:
        for name in self._order(list(services or self.services)):
            if not self.is_running(name):
                self.start(name)

    def is_running(self, service: str) -> bool:
        """Whether the service's process is alive."""
        process = self.processes.get(service)
        return process is not None and process.poll() is None

    def start(self, service: str) -> None:
        spec = self.services[service]
        spec.log.parent.mkdir(parents=True, exist_ok=True)
        start = spec.log.stat().st_size if spec.log.exists() else 0
        with open(spec.log, "ab") as log:
            process = subprocess.Popen(
                spec.command,
                cwd=spec.cwd,
                env={**os.environ, **spec.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[service] = process
        try:
            self._wait_ready(spec, process, start)
        except Exception:
            self.stop(service)
            raise

    def _wait_ready(self, spec: ServiceSpec, process: subprocess.Popen[bytes], log_start: int) -> None:
        deadline = time.monotonic() + spec.ready_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"service {spec.name!r} exited with {process.returncode} while starting; "
                    f"last lines of {spec.log}:\n{self._tail(spec)}"
                )
            if self._ready(spec, deadline, log_start):
                return
            time.sleep(0.1)
        raise TimeoutError(
            f"service {spec.name!r} not ready within {spec.ready_timeout}s; "
            f"last lines of {spec.log}:\n{self._tail(spec)}"
        )

    @staticmethod
    def _ready(spec: ServiceSpec, deadline: float, log_start: int) -> bool:
        if spec.ready_log:
            with open(spec.log, "rb") as log:
                log.seek(log_start)
                if re.search(spec.ready_log, log.read().decode("utf-8", "replace"), re.M) is None:
                    return False
        if spec.ready_url:
            try:
                wait_url(
                    spec.ready_url, timeout=min(1.0, max(0.1, deadline - time.monotonic())), interval=0.1
                )
            except TimeoutError:
                return False
        if spec.ready_port is not None:
            try:
                with socket.create_connection(("127.0.0.1", spec.ready_port), timeout=0.5):
                    pass
            except OSError:
                return False
        return True

    @staticmethod
    def _tail(spec: ServiceSpec, lines: int = 30) -> str:
        try:
            return "\n".join(spec.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, service: str, timeout: float = 10.0) -> None:
        process = self.processes.pop(service, None)
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
        except ProcessLookupError:
            pass

    def restart(self, service: str) -> None:
        self.stop(service)
        self.start(service)

    def down(self) -> None:
        for name in reversed(self._order(list(self.processes))):
            self.stop(name)

    def logs(self, service: str) -> str:
        spec = self.services[service]
        try:
            return spec.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def exec(self, service: str, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        spec = self.services[service]
        return subprocess.run(
            list(command),
            cwd=spec.cwd,
            env={**os.environ, **spec.env},
            capture_output=True,
            text=True,
            check=False,
        )
