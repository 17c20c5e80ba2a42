"""The public API is declared: the package's ``__all__``, and every module public or marked internal."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import c2cwsgiutils

PACKAGE = Path(c2cwsgiutils.__file__).parent
PAGE = PACKAGE.parent / "docs" / "public-api.md"


def _public_api_section() -> str:
    return PAGE.read_text(encoding="utf-8")


def _listed_modules() -> set[str]:
    """The dotted names of the docs' public API page (public, deprecated aliases and internal alike)."""
    return set(re.findall(r"`(c2cwsgiutils(?:\.\w+)*)`", _public_api_section()))


def _module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def _is_internal(name: str) -> bool:
    if any(part.startswith("_") for part in name.split(".")):
        return True
    path = PACKAGE.parent / (name.replace(".", "/") + ".py")
    if not path.exists():
        path = PACKAGE.parent / name.replace(".", "/") / "__init__.py"
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return docstring.startswith("Internal.")


def test_every_name_of_the_package_all_resolves() -> None:
    for name in c2cwsgiutils.__all__:
        assert getattr(c2cwsgiutils, name) is not None, name


def test_importing_the_package_stays_cheap() -> None:
    heavy = ("pyramid", "sqlalchemy", "requests")
    code = f"import sys, c2cwsgiutils; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_module_is_public_and_documented_or_marked_internal() -> None:
    listed = _listed_modules()
    # The collector's and the console scripts' modules are internal as a whole (docs/public-api.md).
    undeclared = [
        name
        for name in _module_names()
        if name not in listed
        and not _is_internal(name)
        and not name.startswith(("c2cwsgiutils.collector.", "c2cwsgiutils.scripts"))
    ]
    assert undeclared == []


def test_every_listed_module_exists() -> None:
    for name in _listed_modules():
        assert importlib.util.find_spec(name) is not None, name
