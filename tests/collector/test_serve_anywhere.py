from __future__ import annotations

import urllib.request
from pathlib import Path

from tests.collector.serve import serve_collector


def test_serve_works_from_inside_a_python_package(tmp_path: Path) -> None:
    # Granian resolves its target from the working directory; a folder with __init__.py there
    # must not change what is imported.
    package = tmp_path / "project" / "inner"
    package.mkdir(parents=True)
    (tmp_path / "project" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    with serve_collector(tmp_path, cwd=package) as port:
        url = f"http://127.0.0.1:{port}/api/v1/openapi.json"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
