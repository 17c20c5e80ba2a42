"""A module defining a CORS service at import time, as applications do (found by config.scan)."""

from __future__ import annotations

from typing import Any

from c2cwsgiutils import services

scanned_service = services.create("scanned", "/scanned")


@scanned_service.get()  # type: ignore[untyped-decorator]  # cornice is untyped
def scanned_get(request: Any) -> dict[str, bool]:
    return {"scanned": True}
