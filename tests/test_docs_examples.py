"""The examples of the documentation that are marked runnable are run, as a reader would run them.

A marker is an HTML comment (invisible on GitHub and on the site) on the line just before a fenced
code block of ``README.md`` or a page of ``docs/``:

- ``<!-- test: file NAME -->``: the block is written to ``NAME`` in the page's working directory
  (a temporary directory, one per runnable block), for the runnable blocks after it on the page;
- ``<!-- test: run -->``: the block (``python`` or ``shell``) runs there and must exit with 0
  (``<!-- test: run expect=REGEX -->``: and print something that matches ``REGEX``);
  a shell block runs under ``bash -euo pipefail``, and the jobs it starts in the background are
  stopped when it ends;
- ``<!-- test: serve PATH -->``: the block (``python``) is a server that listens on ``$PORT``;
  ``GET PATH`` with an ``X-Request-ID`` header must answer 200 with that header and that ID in
  its body.

The ports the examples show (8080 the application, 8090 and 8091 the collector) are replaced by
free ports, and ``C2C_COLLECTOR_PORT`` is set to the collector's, so that examples can run beside
a service on those ports. The venv's ``bin`` comes first in ``PATH`` (``c2cwsgiutils-logs``,
``c2cwsgiutils_run``). A runnable block that starts ``celery`` gets a Redis server of its own
(``redis-server`` on a free port) as ``C2C_CELERY_BROKER_URL``: its worker must not take the
tasks of other tests from the shared Redis.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port, start_process, stop_process, wait_for, wait_port

MARKER = re.compile(r"^<!-- test: (file|run|serve)(?: (.+?))? -->$")
FENCE = re.compile(r"^```(\w*)$")
RUN_TIMEOUT = 180.0


@dataclass(frozen=True)
class Block:
    """A fenced code block with a marker."""

    page: str
    line: int
    action: str  # file, run, serve
    argument: str  # the file name, the path served
    language: str
    code: str


def page_blocks(path: Path) -> list[Block]:
    """The marked blocks of one Markdown file, in order."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").split("\n")
    name = str(path.relative_to(ROOT))
    for index, line in enumerate(lines):
        marker = MARKER.match(line.strip())
        if not marker:
            continue
        fence = FENCE.match(lines[index + 1]) if index + 1 < len(lines) else None
        assert fence, f"{name}:{index + 1}: a test marker must be followed by a fenced code block"
        end = lines.index("```", index + 2)
        blocks.append(
            Block(
                name,
                index + 2,
                marker.group(1),
                marker.group(2) or "",
                fence.group(1),
                "\n".join(lines[index + 2 : end]) + "\n",
            )
        )
    return blocks


def documentation() -> list[Path]:
    """README.md and every page of the site."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


ALL_BLOCKS = [block for path in documentation() for block in page_blocks(path)]
RUNNABLE = [block for block in ALL_BLOCKS if block.action != "file"]


def with_ports(code: str, ports: dict[str, int]) -> str:
    """The example with its well-known ports replaced by free ones."""
    return re.sub(r"\b(8080|8090|8091)\b", lambda match: str(ports[match.group(1)]), code)


def example_env(ports: dict[str, int]) -> dict[str, str]:
    """This environment without our settings (a reader's shell has none), the venv first in PATH."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("C2C_", "PYTHONPATH"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env["PORT"] = str(ports["8080"])
    env["C2C_COLLECTOR_PORT"] = str(ports["8090"])
    return env


def prepare(block: Block, directory: Path, ports: dict[str, int]) -> None:
    """Write the page's file blocks that come before ``block`` into ``directory``."""
    for other in ALL_BLOCKS:
        if other.page == block.page and other.action == "file" and other.line < block.line:
            target = directory / other.argument
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(with_ports(other.code, ports), encoding="utf-8")


def command(block: Block, directory: Path) -> list[str]:
    """How to run the block."""
    if block.language == "python":
        (directory / "example.py").write_text(block.code, encoding="utf-8")
        return [sys.executable, "example.py"]
    if block.language in ("shell", "sh", "bash"):
        # the background jobs of the example are stopped when it ends, whatever happened
        script = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + block.code
        (directory / "example.sh").write_text(script, encoding="utf-8")
        return ["bash", "-euo", "pipefail", "example.sh"]
    raise AssertionError(f"{block.page}:{block.line}: cannot run a {block.language!r} block")


def run_example(block: Block, directory: Path) -> str:
    """Run a runnable block in ``directory``; its output; AssertionError when it fails."""
    ports = {"8080": free_port(), "8090": free_port(), "8091": free_port()}
    prepare(block, directory, ports)
    code = with_ports(block.code, ports)
    runnable = Block(block.page, block.line, block.action, block.argument, block.language, code)
    argv = command(runnable, directory)
    env = example_env(ports)
    broker = None
    if re.search(r"^celery ", code, re.M):
        broker_port = free_port()
        broker = start_process(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(broker_port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=directory,
        )
        wait_port(broker_port, process=broker)
        env["C2C_CELERY_BROKER_URL"] = f"redis://127.0.0.1:{broker_port}/0"
    log = directory / "output.log"
    where = f"{block.page}:{block.line}"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, cwd=directory, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        if block.action == "run":
            try:
                returncode = process.wait(RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                output = log.read_text()
                raise AssertionError(f"{where}: still running after {RUN_TIMEOUT} s:\n{output}") from None
            assert returncode == 0, f"{where}: exit status {returncode}:\n{log.read_text()}"
            expected = block.argument.removeprefix("expect=")
            if expected:
                output = log.read_text(encoding="utf-8", errors="replace")
                assert re.search(expected, output), f"{where}: nothing matches {expected!r} in:\n{output}"
        else:
            _check_server(block, ports["8080"], process, log)
    finally:
        stop_process(process)
        if broker is not None:
            stop_process(broker)
    return log.read_text(encoding="utf-8", errors="replace")


def _check_server(block: Block, port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    where = f"{block.page}:{block.line}"
    url = f"http://127.0.0.1:{port}{block.argument}"
    sent = f"docs-example-{uuid.uuid4().hex}"
    answers: list[tuple[int, str | None, str]] = []

    def answered() -> bool:
        exited = process.poll()
        assert exited is None, f"{where}: the server exited with {exited}:\n{log.read_text()}"
        try:
            asked = urllib.request.Request(url, headers={"X-Request-ID": sent})
            with urllib.request.urlopen(asked, timeout=5) as response:
                body = response.read().decode()
                answers.append((response.status, response.headers.get("X-Request-ID"), body))
        except OSError:
            return False
        return True

    wait_for(answered, timeout=60, message=f"{where}: an answer from {url}")
    status, request_id, body = answers[-1]
    assert status == 200, f"{where}: GET {block.argument} answered {status}"
    assert request_id == sent, (
        f"{where}: GET {block.argument} answered X-Request-ID {request_id!r}, not {sent!r}"
    )
    assert sent in body, f"{where}: the answer does not show the request ID: {body!r}"


@pytest.mark.parametrize("block", RUNNABLE, ids=[f"{block.page}:{block.line}" for block in RUNNABLE])
def test_documentation_example_runs(block: Block, tmp_path: Path) -> None:
    run_example(block, tmp_path)


def test_the_required_examples_are_marked() -> None:
    marked = {block.page for block in RUNNABLE}
    required = (
        "README.md",
        "docs/getting-started.md",
        "docs/pyramid.md",
        "docs/wsgi.md",
        "docs/logging.md",
        "docs/celery.md",
    )
    for page in required:
        assert page in marked, f"{page} has no runnable example"


def test_a_broken_example_fails(tmp_path: Path) -> None:
    broken = Block("docs/broken.md", 1, "run", "", "python", "import no_such_module_in_the_docs\n")
    with pytest.raises(AssertionError, match="no_such_module_in_the_docs"):
        run_example(broken, tmp_path)


def test_an_example_that_prints_something_else_fails(tmp_path: Path) -> None:
    block = Block("docs/broken.md", 1, "run", "expect=job-42", "shell", "echo job-41\n")
    with pytest.raises(AssertionError, match="nothing matches 'job-42'"):
        run_example(block, tmp_path)


def test_a_server_without_request_tracking_fails(tmp_path: Path) -> None:
    plain = (
        "import os\nfrom wsgiref.simple_server import make_server\n\n\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'hello']\n\n\n"
        "make_server('127.0.0.1', int(os.environ['PORT']), app).serve_forever()\n"
    )
    block = Block("docs/broken.md", 1, "serve", "/", "python", plain)
    with pytest.raises(AssertionError, match="answered X-Request-ID None"):
        run_example(block, tmp_path)
