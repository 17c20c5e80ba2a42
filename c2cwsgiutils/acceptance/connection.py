"""An HTTP client for acceptance tests: expected statuses, CORS and cache checks, request IDs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

__all__ = ["Connection", "StatusError"]


class StatusError(AssertionError):
    """The service answered another status than expected; the message holds the body and request ID."""


class Connection:
    """Talk to one service under test.

    Every call sends an ``X-Request-ID`` (``{request_id_prefix}-{uuid}``; the last one is in
    :attr:`last_request_id`) so that a failing test can be found in the service's logs. With
    ``origin`` set, every call sends that ``Origin`` and checks the CORS answer. Connection errors
    (a service still starting) are retried ``retries`` times.
    """

    def __init__(
        self,
        base_url: str,
        origin: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        retry_interval: float = 1.0,
        request_id_prefix: str = "acceptance",
    ) -> None:
        import requests

        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.origin = origin
        self.timeout = timeout
        self.retries = retries
        self.retry_interval = retry_interval
        self.request_id_prefix = request_id_prefix
        self.last_request_id = ""
        self.session = requests.Session()

    def close(self) -> None:
        """Close the underlying HTTP session."""
        self.session.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the verbs ---------------------------------------------------------------------------

    def get(self, url: str, expected_status: int = 200, **kwargs: Any) -> str:
        """GET; returns the body as text."""
        return str(self._call("GET", url, expected_status, **kwargs).text)

    def get_json(self, url: str, expected_status: int = 200, **kwargs: Any) -> Any:
        """GET; returns the decoded JSON body."""
        return self._json(self._call("GET", url, expected_status, **kwargs))

    def get_raw(self, url: str, expected_status: int = 200, **kwargs: Any) -> Any:
        """GET; returns the ``requests.Response``."""
        return self._call("GET", url, expected_status, **kwargs)

    def post_json(self, url: str, json: Any = None, expected_status: int = 200, **kwargs: Any) -> Any:
        """POST a JSON body; returns the decoded JSON answer (``None`` when empty)."""
        return self._json(self._call("POST", url, expected_status, json=json, **kwargs))

    def put_json(self, url: str, json: Any = None, expected_status: int = 200, **kwargs: Any) -> Any:
        """PUT a JSON body; returns the decoded JSON answer (``None`` when empty)."""
        return self._json(self._call("PUT", url, expected_status, json=json, **kwargs))

    def patch_json(self, url: str, json: Any = None, expected_status: int = 200, **kwargs: Any) -> Any:
        """PATCH a JSON body; returns the decoded JSON answer (``None`` when empty)."""
        return self._json(self._call("PATCH", url, expected_status, json=json, **kwargs))

    def delete(self, url: str, expected_status: int = 204, **kwargs: Any) -> Any:
        """DELETE; returns the ``requests.Response``."""
        return self._call("DELETE", url, expected_status, **kwargs)

    def options(self, url: str, expected_status: int = 200, **kwargs: Any) -> Any:
        """OPTIONS (e.g. a CORS preflight); returns the ``requests.Response``."""
        return self._call("OPTIONS", url, expected_status, **kwargs)

    # ---- internals ---------------------------------------------------------------------------

    def url(self, url: str) -> str:
        """``url`` resolved against the base URL (absolute URLs are kept)."""
        return urljoin(self.base_url, url.lstrip("/")) if "://" not in url else url

    def _call(
        self,
        method: str,
        url: str,
        expected_status: int,
        *,
        headers: Mapping[str, str] | None = None,
        cors: bool = True,
        cache_control: str | None = None,
        **kwargs: Any,
    ) -> Any:
        import requests

        self.last_request_id = f"{self.request_id_prefix}-{uuid.uuid4().hex}"
        all_headers = {"X-Request-ID": self.last_request_id}
        if self.origin is not None:
            all_headers["Origin"] = self.origin
        all_headers.update(headers or {})
        kwargs.setdefault("timeout", self.timeout)
        target = self.url(url)
        for attempt in range(self.retries + 1):
            try:
                response = self.session.request(method, target, headers=all_headers, **kwargs)
                break
            except requests.ConnectionError:
                if attempt == self.retries:
                    raise
                time.sleep(self.retry_interval)
        self._check_status(response, method, target, expected_status)
        if cors and self.origin is not None:
            self._check_cors(response)
        if cache_control is not None:
            actual = response.headers.get("Cache-Control")
            if actual != cache_control:
                raise AssertionError(
                    f"{method} {target}: Cache-Control is {actual!r}, expected {cache_control!r}"
                )
        return response

    def _check_status(self, response: Any, method: str, url: str, expected: int) -> None:
        if response.status_code != expected:
            body = response.text
            if len(body) > 2000:
                body = body[:2000] + "..."
            raise StatusError(
                f"{method} {url} answered {response.status_code}, expected {expected} "
                f"(X-Request-ID: {self.last_request_id}). Body:\n{body}"
            )

    def _check_cors(self, response: Any) -> None:
        allowed = response.headers.get("Access-Control-Allow-Origin")
        if allowed not in ("*", self.origin):
            raise AssertionError(
                f"CORS: Access-Control-Allow-Origin is {allowed!r} for Origin {self.origin!r} "
                f"(X-Request-ID: {self.last_request_id})"
            )

    @staticmethod
    def _json(response: Any) -> Any:
        if not response.content:
            return None
        return response.json()
