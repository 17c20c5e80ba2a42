"""Choose between a module's mypyc-compiled build and its Python source.

A few hot-path modules (listed in setup.py) are compiled with mypyc when the package is built with
a C compiler at hand; the compiled extension sits beside the ``.py`` file, which stays the
reference and the fallback. :func:`load` imports the source instead when

- ``C2C_PURE_PYTHON`` is true (to compare both, or to rule the compiled build out), or
- the extension is older than its source by more than a few seconds: the source was edited after
  the last build (``make install`` / ``pip install -e .`` rebuilds it), and running the old build
  would silently run old code. A warning says so.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from c2cwsgiutils import config

__all__ = ["MODULES", "build_status", "is_compiled", "load", "warn_if_not_compiled"]

# Installing a wheel writes the source and the extension a moment apart, in either order.
_STALE_AFTER_SECONDS = 5.0

PURE_PYTHON = config.declare(
    "C2C_PURE_PYTHON",
    "",
    False,
    config.as_bool,
    "Run the hot paths compiled at installation (mypyc) as plain Python instead, and, at "
    "installation, do not compile them. Read from the environment when the package is imported.",
)


def _pure() -> bool:
    try:
        return PURE_PYTHON.get(None)
    except config.ConfigError:
        # Reported with the variable's name by the start-up validation; importing never fails.
        return PURE_PYTHON.default


def _extension(source: Path) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = source.with_name(source.stem + suffix)
        if candidate.exists():
            return candidate
    return None


def _from_source(name: str, source: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


# The compiled modules (setup.py's COMPILED, as module names; a test keeps both lists equal).
MODULES = (
    "c2cwsgiutils._context_core",
    "c2cwsgiutils._spans_core",
    "c2cwsgiutils.collector.intake._form_core",
    "c2cwsgiutils.collector.intake._batch_core",
    "c2cwsgiutils.collector.intake._otlp_core",
    "c2cwsgiutils.collector.intake._otlp_json",
    "c2cwsgiutils.logging._emit_core",
)
_ROOT = Path(__file__).resolve().parent
_warned = False
_REPORTED = "_C2C_PLAIN_PYTHON_REPORTED"


def _status_of(name: str) -> str:
    source = _ROOT.joinpath(*name.split(".")[1:]).with_suffix(".py")
    if _pure():
        return "plain Python (C2C_PURE_PYTHON)"
    extension = _extension(source)
    if extension is None:
        return "plain Python (not built: no C compiler or mypyc at installation)"
    if source.exists() and source.stat().st_mtime > extension.stat().st_mtime + _STALE_AFTER_SECONDS:
        return "plain Python (the build is older than the source: reinstall)"
    return "compiled"


def build_status() -> dict[str, str]:
    """Per compiled module (:data:`MODULES`): ``"compiled"`` or ``"plain Python (<why>)"``.

    Read from the files, without importing the modules: what they run as once imported.
    """
    return {name: _status_of(name) for name in MODULES}


def warn_if_not_compiled(logger: Any) -> None:
    """Log one WARNING per process when a hot path will run as plain Python (not asked for)."""
    global _warned
    if _warned or _pure() or os.environ.get(_REPORTED):
        return
    _warned = True
    os.environ[_REPORTED] = "1"  # inherited: the workers of this server do not say it again
    slow = {name: status for name, status in build_status().items() if status != "compiled"}
    if slow:
        logger.warning(
            "c2cwsgiutils: %d of %d hot paths run as plain Python, about 1.4x the CPU (%s); install "
            "from source with a C compiler, or set C2C_PURE_PYTHON=1 to say it is meant",
            len(slow),
            len(MODULES),
            "; ".join(f"{name.rsplit('.', 1)[1]}: {status}" for name, status in slow.items()),
        )


def load(name: str) -> ModuleType:
    """Import ``name`` (a module of this package) compiled when possible, else from its source.

    The module chosen is the one in ``sys.modules``: a later ``import`` of ``name`` gets it.
    """
    if name in sys.modules:
        return sys.modules[name]
    package, _, leaf = name.rpartition(".")
    folder = Path(importlib.import_module(package).__file__ or ".").parent  # the package first
    source = folder / f"{leaf}.py"
    extension = _extension(source)
    pure = _pure()
    if extension is None or pure or not source.exists():
        return _from_source(name, source) if source.exists() else importlib.import_module(name)
    if source.stat().st_mtime > extension.stat().st_mtime + _STALE_AFTER_SECONDS:
        warnings.warn(
            f"{source} changed after {extension.name} was built: running the source; "
            "rebuild with `make install` (or `pip install -e .`)",
            RuntimeWarning,
            stacklevel=2,
        )
        return _from_source(name, source)
    return importlib.import_module(name)


def is_compiled(module: ModuleType) -> bool:
    """Whether ``module`` runs from a compiled extension."""
    return not (module.__file__ or "").endswith(".py")
