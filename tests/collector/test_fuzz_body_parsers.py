"""The body parsers' atheris fuzz target runs for a bounded time without a finding (issue #18)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, child_env

TARGET = Path(__file__).with_name("fuzz_body_parsers.py")
SECONDS = 20


@pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None, reason="atheris is not installed (dev extra)"
)
def test_the_body_parsers_survive_coverage_guided_fuzzing(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for index, seed in enumerate(
        [
            b"\x01" + b'{"msg": "a", "levelno": 20}\n{"msg": "b"}\n',
            b"\x02" + b'{"msg": [[["x"]]], "created": 1.5}',
            b"\x03" + b"name=a&msg=caf%C3%A9&args=%28%29&levelno=20&created=1.5",
            b"\x04" + b"[" * 70 + b'"\\"',
            b"\x05" + b"%C3%A9%%41%E2%82%AC",
        ]
    ):
        (corpus / f"seed{index}").write_bytes(seed)
    result = subprocess.run(
        [
            sys.executable,
            str(TARGET),
            f"-max_total_time={SECONDS}",
            "-rss_limit_mb=2048",
            "-timeout=10",
            str(corpus),
        ],
        env=child_env({"PYTHONPATH": str(ROOT)}),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=SECONDS + 120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Done" in result.stderr
