"""Peers for the benchmarks, each in its own virtualenv under bench/.peers/ (git-ignored).

``original_python()`` returns the interpreter of a venv holding the original c2cwsgiutils 6.1.10
(with its ``standard`` extra and WebTest), creating it on first use. Benchmarks run peer code in
subprocesses whose working directory is outside the repository, so that ``import c2cwsgiutils``
there finds the peer's package, not ours.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / ".peers"
ORIGINAL_REQUIREMENTS = ["c2cwsgiutils[standard]==6.1.10", "webtest"]
NEUTRAL_CWD = Path(tempfile.gettempdir())


def ensure_venv(name: str, requirements: list[str], python: str | None = None) -> Path:
    """The python of ``bench/.peers/NAME``, created with ``requirements`` installed if missing."""
    venv = PEERS / name
    marker = venv / ".installed"
    expected = "\n".join(requirements)
    if marker.is_file() and marker.read_text() == expected:
        return venv / "bin" / "python"
    print(f"[peers] installing {' '.join(requirements)} into {venv} ...", file=sys.stderr, flush=True)
    base = python or getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *requirements,
        ],
        check=True,
    )
    marker.write_text(expected)
    return venv / "bin" / "python"


def original_python() -> Path:
    """Interpreter of the venv with the original c2cwsgiutils 6.1.10."""
    return ensure_venv("original", ORIGINAL_REQUIREMENTS)
