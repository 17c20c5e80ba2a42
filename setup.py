"""Build hook: the metadata lives in pyproject.toml; this file only compiles the hot paths.

The modules in ``COMPILED`` are compiled with mypyc (a C extension beside each ``.py`` file)
when mypyc and a C compiler are at hand; otherwise, or with ``C2C_PURE_PYTHON=1`` at build time,
the package installs as plain Python and runs the same code interpreted
(see c2cwsgiutils/_compiled.py). A failed compilation never fails the installation.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

COMPILED = [
    "c2cwsgiutils/_context_core.py",
    "c2cwsgiutils/_spans_core.py",
    "c2cwsgiutils/collector/intake/_form_core.py",
    "c2cwsgiutils/collector/intake/_batch_core.py",
    "c2cwsgiutils/collector/intake/_otlp_core.py",
    "c2cwsgiutils/collector/intake/_otlp_json.py",
    "c2cwsgiutils/logging/_emit_core.py",
]


def _warn(message: str) -> None:
    print(f"c2cwsgiutils: {message}; installing the pure Python code", file=sys.stderr)


def _extensions() -> list[Any]:
    if os.environ.get("C2C_PURE_PYTHON", "").strip().lower() in ("1", "true", "yes", "on"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _warn("mypyc is not installed")
        return []
    try:
        # In an isolated build (pip's default) the third-party packages the compiled modules import
        # (SQLAlchemy, orjson ...) are not installed: type-check them as Any rather than fail, and
        # with mypy's defaults, not the project's strict settings (those run in `make lint`).
        options = ["--config-file", "", "--ignore-missing-imports"]
        return list(
            mypycify([*options, *COMPILED], opt_level="3", debug_level="0", group_name="c2cwsgiutils")
        )
    except (Exception, SystemExit) as exc:  # mypy reports type errors by exiting
        _warn(f"mypyc failed ({exc})")
        return []


class OptionalBuildExt(build_ext):
    """Builds the extensions, or warns and leaves the pure Python code when that fails."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers...
            _warn(f"compiling failed ({exc})")

    def build_extension(self, ext: Any) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # as above
            _warn(f"compiling {ext.name} failed ({exc})")


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
