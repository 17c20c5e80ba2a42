"""6.x's ``c2cwsgiutils.acceptance.print``: a :class:`Connection` to a MapFish Print server.

Used by acceptance tests and by ``c2cwsgiutils-test-print``, which prints every example request of
every application of a print server and checks that each gives a PDF.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

from c2cwsgiutils.acceptance import connection, waiting

__all__ = ["PrintConnection"]

LOG = logging.getLogger(__name__)


class PrintConnection(connection.Connection):
    """Talk to a MapFish Print server; ``base_url`` includes its ``/print`` path."""

    def __init__(self, base_url: str, origin: str) -> None:
        super().__init__(base_url=base_url, origin=origin)
        # MapFish Print checks the referrer of the applications it allows.
        self.session.headers["Referer"] = origin
        self.session.headers["Referrer"] = origin  # 6.x's spelling, kept for servers set up for it

    def wait_ready(self, timeout: int = 60, app: str = "default") -> None:
        """Wait until the capabilities of ``app`` answer; raise the last error after ``timeout`` s."""
        waiting.retry_timeout(functools.partial(self.get_capabilities, app=app), timeout=timeout)

    def get_capabilities(self, app: str) -> Any:
        """The capabilities (layouts, attributes) of ``app``."""
        return self.get_json(f"{app}/capabilities.json", cache_expected=connection.CacheExpected.YES)

    def get_example_requests(self, app: str) -> dict[str, Any]:
        """The example requests of ``app``, by name, decoded."""
        samples = self.get_json(f"{app}/exampleRequest.json", cache_expected=connection.CacheExpected.YES)
        return {name: json.loads(value) for name, value in samples.items()}

    def get_pdf(self, app: str, request: dict[str, Any], timeout: int = 60) -> Any:
        """Print ``request`` with ``app``, wait for the report; returns the ``requests.Response`` of
        the PDF. Raises ``AssertionError`` when the print fails or gives no PDF."""
        created = self.post_json(f"{app}/report.pdf", json=request)
        ref = created["ref"]
        status = waiting.retry_timeout(functools.partial(self._finished, ref), timeout=timeout)
        assert status["status"] == "finished", f"print {ref} ended {status['status']}: {status.get('error')}"
        report = self.get_raw(f"report/{ref}")
        assert report.headers["Content-Type"] == "application/pdf", report.headers["Content-Type"]
        return report

    def _finished(self, ref: str) -> Any:
        status = self.get_json(f"status/{ref}.json")
        if not status["done"]:
            raise RuntimeError(f"print {ref} not done yet")
        return status

    def get_apps(self) -> Any:
        """The names of the print applications."""
        return self.get_json("apps.json", cache_expected=connection.CacheExpected.YES)
