"""``c2cwsgiutils-logs serve`` without the ``collector`` extra: one line naming the extra, exit 2."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from c2cwsgiutils.collector.cli import commands


@pytest.mark.parametrize(
    ("argv", "absent", "named"), [(["serve"], "granian", "granian"), (["migrate"], "orjson", "orjson")]
)
def test_a_missing_server_module_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    absent: str,
    named: str,
) -> None:
    find_spec = importlib.util.find_spec

    def without(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name == absent else find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without)
    monkeypatch.setenv("C2C_COLLECTOR_DB_URL", "sqlite:////nonexistent-dir-never-created/c.sqlite")
    assert commands.main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"c2cwsgiutils-logs: {argv[0]} needs {named}, which the collector extra brings: "
        "pip install 'c2cwsgiutils[collector]'"
    ]


def test_gunicorn_instead_of_granian_needs_gunicorn_only(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a, **k: None if name == "granian" else find_spec(name, *a, **k),
    )
    assert commands._missing_server_modules("serve", "gunicorn") == []
    assert commands._missing_server_modules("serve", "granian") == ["granian"]
    assert commands._missing_server_modules("query", "granian") == []
