"""Helpers for acceptance tests of services built with c2cwsgiutils (a pytest plugin too).

- :class:`Connection`: an HTTP client that checks statuses, CORS and cache headers and sends a
  request ID with every call, so a failing test can be found in the service's logs.
- :func:`wait_url`, :func:`retry_timeout`: wait for start-up races to settle.
- :func:`approx`: compare nested JSON structures with a tolerance on numbers.
- :class:`Composition`: start, stop and inspect the services under test (docker compose, or local
  processes described in a YAML file).
"""

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from c2cwsgiutils.acceptance.composition import (
    Composition,
    DockerComposeBackend,
    LocalProcessesBackend,
    ServiceSpec,
)
from c2cwsgiutils.acceptance.connection import Connection, StatusError
from c2cwsgiutils.acceptance.waiting import approx, retry_timeout, wait_url

__all__ = [
    "Composition",
    "Connection",
    "DockerComposeBackend",
    "LocalProcessesBackend",
    "ServiceSpec",
    "StatusError",
    "approx",
    "retry",
    "retry_timeout",
    "wait_url",
]

_LOG = logging.getLogger(__name__)


def retry(
    exception_to_check: Any, tries: float = 3, delay: float = 0.5, backoff: float = 2
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator (6.x API): call again on ``exception_to_check``, ``tries`` times in all, waiting
    ``delay`` seconds multiplied by ``backoff`` after each failure; the last failure propagates."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            remaining, wait = tries, delay
            while remaining > 1:
                try:
                    return func(*args, **kwargs)
                except exception_to_check as error:
                    _LOG.warning("%s, retrying in %s seconds", error, wait)
                    time.sleep(wait)
                    remaining -= 1
                    wait *= backoff
            return func(*args, **kwargs)

        return call

    return decorate
