"""``import c2cwsgiutils`` imports no third-party library."""

from __future__ import annotations

import re
import subprocess
import sys

FORBIDDEN = ("pyramid", "sqlalchemy", "celery", "redis", "webob", "zope", "gunicorn", "paste", "requests")


def _imported_modules(statement: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True, check=True
    )
    # lines look like "import time:       123 |        456 |     package.module"
    return {
        match.group(1).strip()
        for match in re.finditer(r"^import time:\s*\d+\s*\|\s*\d+\s*\|\s*(.+)$", result.stderr, re.M)
    }


def test_importtime_output_is_parsed() -> None:
    assert "c2cwsgiutils" in _imported_modules("import c2cwsgiutils")


def test_importing_the_package_imports_no_third_party_library() -> None:
    modules = _imported_modules("import c2cwsgiutils")
    top_level = {module.split(".")[0] for module in modules}
    assert set() == top_level & set(FORBIDDEN)


def test_importing_the_ini_loader_imports_no_third_party_library() -> None:
    modules = _imported_modules("import c2cwsgiutils.paste_config, c2cwsgiutils.scripts.run")
    top_level = {module.split(".")[0] for module in modules}
    assert set() == top_level & set(FORBIDDEN)
