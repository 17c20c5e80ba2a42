"""Every public name and console script of c2cwsgiutils 6.1.10 is here, or refused with its fix.

``names_6_1_10.txt`` lists the module-level public names of 6.1.10's wheel, as
``scripts/list_6x_names.py`` finds them. Each must resolve (working, or as an alias that warns with
``DeprecationWarning``), or be one of ``REFUSED``: then importing it raises one ``ImportError``
line that names the fix and MIGRATION.md.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import pytest

HERE = Path(__file__).parent
NAMES = HERE.joinpath("names_6_1_10.txt").read_text(encoding="utf-8").split()

# 6.x internals of c2cwsgiutils-stats-db: the command itself is kept (see MIGRATION.md).
REFUSED = {
    "c2cwsgiutils.scripts.stats_db:Reporter",
    "c2cwsgiutils.scripts.stats_db:do_extra",
    "c2cwsgiutils.scripts.stats_db:do_table",
    "c2cwsgiutils.scripts.stats_db:scoped_session",
}

# Console scripts of 6.1.10's wheel; check-es and coverage-report point at modules that its wheel
# does not contain (they failed with ModuleNotFoundError in 6.1.10 too), so 7 does not declare them.
SCRIPTS_6X = {
    "c2cwsgiutils-genversion": "c2cwsgiutils.scripts.genversion:main",
    "c2cwsgiutils-stats-db": "c2cwsgiutils.scripts.stats_db:main",
    "c2cwsgiutils-test-print": "c2cwsgiutils.scripts.test_print:main",
}
BROKEN_IN_6X = {"c2cwsgiutils-check-es", "c2cwsgiutils-coverage-report"}


def test_the_list_is_6_1_10s() -> None:
    assert len(NAMES) == 172
    assert set(NAMES) >= REFUSED


@pytest.mark.parametrize("spec", sorted(set(NAMES) - REFUSED))
def test_a_6x_name_resolves(spec: str) -> None:
    module, name = spec.split(":")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert hasattr(importlib.import_module(module), name), spec


@pytest.mark.parametrize("spec", sorted(REFUSED))
def test_a_refused_6x_name_says_what_to_do(spec: str) -> None:
    module, name = spec.split(":")
    with pytest.raises(ImportError, match=r"of 6\.x is gone: .+ \(see MIGRATION\.md\)") as raised:
        exec(f"from {module} import {name}", {})
    assert "\n" not in str(raised.value)


def test_the_6x_console_scripts_are_declared() -> None:
    text = (HERE.parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[project.scripts]\n", 1)[1].split("\n[", 1)[0]  # tomllib: Python 3.11+
    declared = dict(line.replace('"', "").split(" = ") for line in section.splitlines() if " = " in line)
    for script, target in SCRIPTS_6X.items():
        assert script in declared, script
        module, name = target.split(":")
        assert callable(getattr(importlib.import_module(module), name))
    assert not BROKEN_IN_6X & set(declared)
