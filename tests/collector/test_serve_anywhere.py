from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

from tests.helpers import free_port, start_process, stop_process, wait_port


def test_serve_works_from_inside_a_python_package(tmp_path: Path) -> None:
    # Granian resolves its target from the working directory; a folder with __init__.py there
    # must not change what is imported.
    package = tmp_path / "project" / "inner"
    package.mkdir(parents=True)
    (tmp_path / "project" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    port = free_port()
    command = Path(sys.executable).parent / "c2cwsgiutils-logs"
    args = [str(command), "serve", "--port", str(port), "--db-url", f"sqlite:///{tmp_path / 'c.sqlite'}"]
    process = start_process(args, log=tmp_path / "serve.log", cwd=package)
    try:
        wait_port(port, timeout=30, process=process)
        url = f"http://127.0.0.1:{port}/api/v1/openapi.json"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
    finally:
        stop_process(process)
