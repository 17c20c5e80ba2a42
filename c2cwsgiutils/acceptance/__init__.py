"""Helpers for acceptance tests of services built with c2cwsgiutils (a pytest plugin too).

- :class:`Connection`: an HTTP client that checks statuses, CORS and cache headers and sends a
  request ID with every call, so a failing test can be found in the service's logs.
- :func:`wait_url`, :func:`retry_timeout`: wait for start-up races to settle.
- :func:`approx`: compare nested JSON structures with a tolerance on numbers.
- :class:`Composition`: start, stop and inspect the services under test (docker compose, or local
  processes described in a YAML file).
"""

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
    "retry_timeout",
    "wait_url",
]
