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
  its body;
- ``<!-- test: excerpt -->``: the block is a fragment of a complete example of the same page (a
  ``file``, ``run`` or ``serve`` block): each of its lines, without its comment, must be found in a
  line of that example (``--workers 2`` in ``--workers 2 --pid gunicorn.pid &``), so that the
  fragment runs with it;
- ``<!-- test: skip REASON -->``: the block cannot run here (a Docker container, a server's own
  configuration ...); the reason is required, and says what runs it instead when something does.

Every block of the getting-started page, of the guides and of the collector pages carries one of
these markers (``test_every_example_is_marked``); output samples (``text``, ``json``) and
grammars (no language) need none.

The ports the examples show (8080 the application, 8090 and 8091 the collector) are replaced by
free ports (9090, a metrics port, too), and ``C2C_COLLECTOR_PORT`` is set to the collector's (and
``C2C_COLLECTOR_URL`` to its URL, the command line's default), so that examples can run beside a
service on those ports. The PostgreSQL database the examples show,
``postgresql://postgres@localhost:5432/myapp``, is replaced by a throw-away database of the test
server (``C2C_TEST_PG_URL``), created for the block and dropped after it. The venv's ``bin`` comes
first in ``PATH`` (``c2cwsgiutils-logs``, ``c2cwsgiutils_run``). A runnable block that starts
``celery`` gets a Redis server of its own (``redis-server`` on a free port) as
``C2C_CELERY_BROKER_URL``: its worker must not take the tasks of other tests from the shared Redis.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_ADMIN_URL
from tests.helpers import ROOT, free_port, redis_server_argv, start_process, stop_process, wait_for, wait_port

MARKER = re.compile(r"^<!-- test: (file|run|serve|excerpt|skip)(?: (.+?))? -->$")
EXAMPLE_DATABASE = "postgresql://postgres@localhost:5432/myapp"
PORTS = ("8080", "8090", "8091", "9090")
# blocks that show an output or a grammar, not code to run
NOT_CODE = ("", "text", "json")
FENCE = re.compile(r"^```(\w*)$")
RUN_TIMEOUT = 180.0


@dataclass(frozen=True)
class Block:
    """A fenced code block with a marker."""

    page: str
    line: int
    action: str  # file, run, serve, excerpt, skip
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
RUNNABLE = [block for block in ALL_BLOCKS if block.action in ("run", "serve")]
EXCERPTS = [block for block in ALL_BLOCKS if block.action == "excerpt"]


def with_ports(code: str, ports: dict[str, int]) -> str:
    """The example with its well-known ports replaced by free ones."""
    return re.sub(rf"\b({'|'.join(PORTS)})\b", lambda match: str(ports[match.group(1)]), code)


def with_database(code: str, database: str | None) -> str:
    """The example with its PostgreSQL database replaced by the throw-away one."""
    return code if database is None else code.replace(EXAMPLE_DATABASE, database)


def example_env(ports: dict[str, int]) -> dict[str, str]:
    """This environment without our settings (a reader's shell has none), the venv first in PATH."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("C2C_", "PYTHONPATH"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env["PORT"] = str(ports["8080"])
    env["C2C_COLLECTOR_PORT"] = str(ports["8090"])
    # the command line's default collector, http://127.0.0.1:8090, moved with the port
    env["C2C_COLLECTOR_URL"] = f"http://127.0.0.1:{ports['8090']}"
    return env


def page_files(block: Block) -> list[Block]:
    """The file blocks of the page that come before ``block``."""
    return [
        other
        for other in ALL_BLOCKS
        if other.page == block.page and other.action == "file" and other.line < block.line
    ]


def prepare(block: Block, directory: Path, ports: dict[str, int], database: str | None) -> None:
    """Write the page's file blocks that come before ``block`` into ``directory``."""
    for other in page_files(block):
        target = directory / other.argument
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(with_database(with_ports(other.code, ports), database), encoding="utf-8")


@contextlib.contextmanager
def throwaway_database(block: Block) -> Iterator[str | None]:
    """A database of the test server for a block (or one of its files) that names the example's."""
    if not any(EXAMPLE_DATABASE in other.code for other in [block, *page_files(block)]):
        yield None
        return
    import psycopg2  # type: ignore[import-untyped]  # no stubs

    name = f"c2c_docs_{uuid.uuid4().hex[:12]}"
    admin_url = PG_ADMIN_URL.replace("postgresql+psycopg2://", "postgresql://")
    admin = psycopg2.connect(admin_url, connect_timeout=3)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


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
    with throwaway_database(block) as database:
        return _run_example(block, directory, database)


def _run_example(block: Block, directory: Path, database: str | None) -> str:
    ports = {port: free_port() for port in PORTS}
    prepare(block, directory, ports, database)
    code = with_database(with_ports(block.code, ports), database)
    runnable = Block(block.page, block.line, block.action, block.argument, block.language, code)
    argv = command(runnable, directory)
    env = example_env(ports)
    broker = None
    if re.search(r"^celery ", code, re.M):
        broker_port = free_port()
        broker = start_process(
            redis_server_argv(broker_port),
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


def code_lines(code: str) -> list[str]:
    """The lines of a block without their comments (``#`` after code or alone), blank ones left out."""
    lines = (re.sub(r"(^|\s+)#(\s.*)?$", "", line).strip() for line in code.split("\n"))
    return [line for line in lines if line]


def check_excerpt(block: Block) -> None:
    """AssertionError unless every line of the fragment is a line of a complete example of its page."""
    where = f"{block.page}:{block.line}"
    examples = [
        other
        for other in ALL_BLOCKS
        if other.page == block.page and other.action in ("file", "run", "serve") and other is not block
    ]
    assert examples, f"{where}: an excerpt, but the page has no complete example"
    missing = [
        line
        for line in code_lines(block.code)
        if not any(line in other for example in examples for other in code_lines(example.code))
    ]
    assert not missing, f"{where}: an excerpt whose lines no complete example of the page has: {missing}"


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


@pytest.mark.parametrize("block", EXCERPTS, ids=[f"{block.page}:{block.line}" for block in EXCERPTS])
def test_documentation_excerpt_is_part_of_a_complete_example(block: Block) -> None:
    check_excerpt(block)


def unmarked_blocks(path: Path) -> list[str]:
    """Where the code blocks of a page without a test marker start."""
    lines = path.read_text(encoding="utf-8").split("\n")
    found: list[str] = []
    inside = False
    for index, line in enumerate(lines):
        fence = re.match(r"^\s*```(\S*)", line)
        if not fence:
            continue
        if inside:
            inside = False
            continue
        inside = True
        before = lines[index - 1].strip() if index else ""
        if fence.group(1) not in NOT_CODE and not MARKER.match(before):
            found.append(f"{path.relative_to(ROOT)}:{index + 1}")
    return found


def test_every_example_is_marked() -> None:
    """No example that was never run: each one runs, is part of one that runs, or says why not."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    unmarked = [where for page in pages for where in unmarked_blocks(page)]
    assert not unmarked, f"code blocks without a test marker: {unmarked}"


def test_a_skipped_example_says_why() -> None:
    for block in ALL_BLOCKS:
        if block.action == "skip":
            assert len(block.argument) > 10, f"{block.page}:{block.line}: skip needs a reason"


def test_an_excerpt_that_drifted_from_its_example_fails() -> None:
    example = Block("docs/broken.md", 3, "run", "", "python", "import os\nprint(os.getpid())\n")
    drifted = Block("docs/broken.md", 1, "excerpt", "", "python", "import os  # the module\nprint(1)\n")
    ALL_BLOCKS.append(example)
    try:
        check_excerpt(Block("docs/broken.md", 1, "excerpt", "", "python", "import os  # the module\n"))
        with pytest.raises(AssertionError, match=r"\['print\(1\)'\]"):
            check_excerpt(drifted)
    finally:
        ALL_BLOCKS.remove(example)
