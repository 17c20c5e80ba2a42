"""An HTTP client for acceptance tests: expected statuses, CORS and cache checks, request IDs.

The verbs take 6.x's arguments in 6.x's order: ``(url, expected_status=200, headers=None,
cors=True, cache_expected=CacheExpected.DONT_CARE, **requests_kwargs)``; bodies are keywords
(``json=``, ``data=``, ``files=``).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from enum import Enum
from typing import Any
from urllib.parse import urljoin

__all__ = ["COLON_SPLIT_RE", "CacheExpected", "Connection", "StatusError", "check_response"]

COLON_SPLIT_RE = re.compile(r"\s*,\s*")


class CacheExpected(Enum):
    """What the ``Cache-Control`` of an answer must say (6.x API)."""

    NO = 0  # no-cache
    YES = 1  # max-age > 0
    DONT_CARE = 2


def check_response(
    response: Any,
    expected_status: int | tuple[int, ...] = 200,
    cache_expected: CacheExpected = CacheExpected.DONT_CARE,
) -> None:
    """Assert the status (one or a tuple of them) and the ``Cache-Control`` of a ``requests`` answer."""
    statuses = expected_status if isinstance(expected_status, tuple) else (expected_status,)
    assert response.status_code in statuses, f"status={response.status_code:d}\n{response.text}"
    cache_control = response.headers.get("Cache-Control", "")
    directives = COLON_SPLIT_RE.split(cache_control) if cache_control else []
    if cache_expected is CacheExpected.NO:
        assert "no-cache" in directives, f"Cache-Control {cache_control!r} lacks no-cache"
    elif cache_expected is CacheExpected.YES:
        assert "max-age=" in cache_control, f"Cache-Control {cache_control!r} lacks max-age"
        assert "max-age=0" not in cache_control, cache_control
        assert "no-cache" not in directives, cache_control


class StatusError(AssertionError):
    """The service answered another status than expected; the message holds the body and request ID."""


def _status_first(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    """The positional arguments of ``_call`` after the URL, from 6.x's ``post_json(url, 201,
    json=...)`` as well as ``post_json(url, {"a": 1}, expected_status=201)`` (a body second:
    anything that is not a status)."""
    rest = list(args)
    if rest and not (isinstance(rest[0], int | tuple) and not isinstance(rest[0], bool)):
        if "json" in kwargs:
            raise TypeError("the JSON body is given twice (second argument and json=)")
        kwargs["json"] = rest.pop(0)
    status = rest.pop(0) if rest else kwargs.pop("expected_status", 200)
    return [status, *rest]


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

    def get(self, url: str, expected_status: Any = 200, *args: Any, **kwargs: Any) -> str | None:
        """GET; returns the body as text (``None`` for a 204)."""
        response = self._call("GET", url, expected_status, *args, **kwargs)
        return None if response.status_code == 204 else str(response.text)

    def get_json(self, url: str, expected_status: Any = 200, *args: Any, **kwargs: Any) -> Any:
        """GET; returns the decoded JSON body."""
        return self._json(self._call("GET", url, expected_status, *args, **kwargs))

    def get_raw(self, url: str, expected_status: Any = 200, *args: Any, **kwargs: Any) -> Any:
        """GET; returns the ``requests.Response``."""
        return self._call("GET", url, expected_status, *args, **kwargs)

    def get_xml(
        self, url: str, schema: str | None = None, expected_status: Any = 200, *args: Any, **kwargs: Any
    ) -> Any:
        """GET an XML document, parsed by lxml and validated against the XSD file ``schema`` if given
        (without lxml: parsed by :mod:`xml.etree.ElementTree`, and a ``schema`` is an error)."""
        response = self._call("GET", url, expected_status, *args, **kwargs)
        try:
            from lxml import etree  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            if schema is not None:
                raise RuntimeError("get_xml(schema=...) needs the lxml package") from None
            from xml.etree import ElementTree

            return ElementTree.ElementTree(ElementTree.fromstring(response.content))  # noqa: S314
        document = etree.fromstring(response.content)
        if schema is not None:
            with open(schema, "rb") as file:
                etree.XMLSchema(etree.parse(file)).assertValid(document)
        return document.getroottree()

    def post(self, url: str, expected_status: Any = 200, *args: Any, **kwargs: Any) -> str | None:
        """POST (``data=``, ``json=`` ...); returns the body as text (``None`` for a 204)."""
        response = self._call("POST", url, expected_status, *args, **kwargs)
        return None if response.status_code == 204 else str(response.text)

    def post_json(self, url: str, *args: Any, **kwargs: Any) -> Any:
        """POST (a JSON body is ``json=``); returns the decoded JSON answer (``None`` when empty)."""
        return self._json(self._call("POST", url, *_status_first(args, kwargs), **kwargs))

    def post_files(self, url: str, expected_status: Any = 200, *args: Any, **kwargs: Any) -> Any:
        """POST files (``files={"name": file}``); returns the decoded JSON answer."""
        return self._json(self._call("POST", url, expected_status, *args, **kwargs))

    def put_json(self, url: str, *args: Any, **kwargs: Any) -> Any:
        """PUT (a JSON body is ``json=``); returns the decoded JSON answer (``None`` when empty)."""
        return self._json(self._call("PUT", url, *_status_first(args, kwargs), **kwargs))

    def patch_json(self, url: str, *args: Any, **kwargs: Any) -> Any:
        """PATCH (a JSON body is ``json=``); returns the decoded JSON answer (``None`` when empty)."""
        return self._json(self._call("PATCH", url, *_status_first(args, kwargs), **kwargs))

    def delete(self, url: str, expected_status: Any = 204, *args: Any, **kwargs: Any) -> Any:
        """DELETE; returns the ``requests.Response``."""
        return self._call("DELETE", url, expected_status, *args, **kwargs)

    def options(self, url: str, expected_status: Any = 200, *args: Any, **kwargs: Any) -> Any:
        """OPTIONS (e.g. a CORS preflight; no CORS check unless ``cors=True``); returns the response."""
        kwargs.setdefault("cors", False)
        return self._call("OPTIONS", url, expected_status, *args, **kwargs)

    # ---- internals ---------------------------------------------------------------------------

    def url(self, url: str) -> str:
        """``url`` resolved against the base URL (absolute URLs are kept)."""
        return urljoin(self.base_url, url.lstrip("/")) if "://" not in url else url

    def _call(  # noqa: PLR0917 - 6.x's positional order
        self,
        method: str,
        url: str,
        expected_status: int | tuple[int, ...],
        headers: Mapping[str, str] | None = None,
        cors: bool = True,
        cache_expected: CacheExpected = CacheExpected.DONT_CARE,
        *,
        cache_control: str | None = None,
        **kwargs: Any,
    ) -> Any:
        import requests

        self.last_request_id = f"{self.request_id_prefix}-{uuid.uuid4().hex}"
        all_headers = {"X-Request-ID": self.last_request_id}
        if self.origin is not None and cors:
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
        check_response(response, expected_status, cache_expected)
        if cors and self.origin is not None:
            self._check_cors(response)
        if cache_control is not None:
            actual = response.headers.get("Cache-Control")
            if actual != cache_control:
                raise AssertionError(
                    f"{method} {target}: Cache-Control is {actual!r}, expected {cache_control!r}"
                )
        return response

    def _check_status(self, response: Any, method: str, url: str, expected: int | tuple[int, ...]) -> None:
        if response.status_code not in (expected if isinstance(expected, tuple) else (expected,)):
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
