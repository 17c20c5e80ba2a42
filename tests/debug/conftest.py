from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_secret_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The env var beats the ini key: make sure the developer's environment does not interfere."""
    for name in ("DEBUG_VIEW_SECRET", "C2C_SECRET", "C2C_BASE_PATH", "C2C_DEBUG_MAX_SLEEP", "C2C_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
