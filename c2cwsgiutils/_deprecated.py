"""Thin aliases for names of c2cwsgiutils 6.x: each access warns, naming the new spelling.

A 6.x module kept for its names does ``__getattr__ = aliases(__name__, {"old": "pkg.mod.new"})``:
the target is imported on first use, so keeping the old module costs nothing at import time.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["aliases", "warn"]


def warn(old: str, new: str, stacklevel: int = 3) -> None:
    """Emit the ``DeprecationWarning`` of a 6.x name: ``"<old> is deprecated; use <new>"``."""
    warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=stacklevel)


def resolve(target: str) -> Any:
    """The object at the dotted path ``target`` (``package.module.attribute``)."""
    module, _, attribute = target.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def aliases(module: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``names`` (old name -> dotted new path) with a warning."""

    def __getattr__(name: str) -> Any:
        target = names.get(name)
        if target is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warn(f"{module}.{name}", target)
        return resolve(target)

    return __getattr__


def init_alias(module: str, include: str | None = None) -> Callable[..., None]:
    """6.x's ``<module>.init(config)``: a warning, then ``config.include(include or module)``."""

    def init(config: Any) -> None:
        target = include or module
        warn(f"{module}.init", f'config.include("{target}")')
        config.include(target)

    init.__doc__ = f'6.x set-up (deprecated): ``config.include("{include or module}")``.'
    return init
