"""The demo's API: ``/api/hello``, ``/api/items``, ``/api/items/{id}/price``, ``/api/sleep-in-web``
and ``/api/sleep-in-worker``."""

from __future__ import annotations

import json
import math
from typing import Any

import requests
from pyramid.httpexceptions import (
    HTTPBadGateway,
    HTTPBadRequest,
    HTTPGatewayTimeout,
    HTTPNotFound,
    HTTPServiceUnavailable,
)
from sqlalchemy import select, text

from c2cwsgiutils_demo.models import NAME_MAX_LENGTH, Item

SLEEP_MAX_SECONDS = 60.0
WORKER_GRACE_SECONDS = 30.0  # how long a task may wait in the queue before the request gives up
ITEMS_MAX = 1000


def hello(request: Any) -> dict[str, Any]:
    """``GET /api/hello``."""
    return {"message": request.registry.settings.get("demo.greeting") or "Hello"}


def list_items(request: Any) -> dict[str, Any]:
    """``GET /api/items``: the last items created (at most 1000), oldest first."""
    query = select(Item).order_by(Item.id.desc()).limit(ITEMS_MAX)
    items = list(reversed(request.dbsession.scalars(query).all()))
    return {"items": [item.to_json() for item in items]}


def _item_name(request: Any) -> str:
    try:
        body = request.json_body
    except (ValueError, UnicodeDecodeError):
        raise HTTPBadRequest('The body must be a JSON object such as {"name": "..."}') from None
    if not isinstance(body, dict):
        raise HTTPBadRequest('The body must be a JSON object such as {"name": "..."}')
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise HTTPBadRequest("'name' must be a non-empty string")
    if len(name) > NAME_MAX_LENGTH:
        raise HTTPBadRequest(f"'name' must be at most {NAME_MAX_LENGTH} characters long")
    return name.strip()


def create_item(request: Any) -> dict[str, Any]:
    """``POST /api/items`` with ``{"name": "..."}``: 201 and the new item."""
    item = Item(name=_item_name(request))
    request.dbsession.add(item)
    request.dbsession.flush()
    request.response.status = 201
    return item.to_json()


def item_price(request: Any) -> dict[str, Any]:
    """``GET /api/items/{id}/price``: the item, priced by the prices service (``demo.prices_url``).

    That service (:mod:`c2cwsgiutils_demo.prices`) is instrumented with OpenTelemetry only and ships
    by OTLP: its spans appear in this request's view, under the client span of this call.
    """
    prices_url = (request.registry.settings.get("demo.prices_url") or "").rstrip("/")
    if not prices_url:
        raise HTTPServiceUnavailable(
            "The prices service is not configured: set DEMO_PRICES_URL (python -m c2cwsgiutils_demo.prices)"
        )
    item_id = request.matchdict["id"]
    if not (item_id.isascii() and item_id.isdigit() and len(item_id) <= 9):
        raise HTTPBadRequest(f"The item id must be a number (got {json.dumps(item_id)})")
    item = request.dbsession.get(Item, int(item_id))
    if item is None:
        raise HTTPNotFound(f"No item {item_id}")
    try:
        answer = requests.get(f"{prices_url}/prices/{item.id}", timeout=10)
        answer.raise_for_status()
        price = answer.json()["price"]
    except (requests.RequestException, ValueError, KeyError, TypeError) as error:
        raise HTTPBadGateway(f"The prices service failed ({type(error).__name__})") from None
    return {**item.to_json(), "price": price}


def _seconds(request: Any) -> float:
    raw = request.params.get("seconds", "1")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= SLEEP_MAX_SECONDS:  # also rejects NaN
        raise HTTPBadRequest(
            f"'seconds' must be a number between 0 and {SLEEP_MAX_SECONDS:g} (got {json.dumps(raw)})"
        )
    return seconds


def sleep_in_web(request: Any) -> dict[str, Any]:
    """``GET /api/sleep-in-web?seconds=N``: a SQL query that takes N seconds (0 <= N <= 60)."""
    seconds = _seconds(request)
    dialect = request.dbsession.get_bind().dialect.name
    function = "pg_sleep" if dialect == "postgresql" else "sleep"
    request.dbsession.execute(text(f"SELECT {function}(:seconds)"), {"seconds": seconds})
    return {"slept": seconds, "database": dialect}


def sleep_in_worker(request: Any) -> dict[str, Any]:
    """``GET /api/sleep-in-worker?seconds=N``: a Celery task runs the slow query; waits for its result."""
    import celery.exceptions
    import kombu.exceptions

    from c2cwsgiutils_demo import tasks

    seconds = _seconds(request)
    try:
        result = tasks.sleep_in_worker.delay(seconds)
        answer: dict[str, Any] = result.get(timeout=seconds + WORKER_GRACE_SECONDS)
    except celery.exceptions.TimeoutError:
        raise HTTPGatewayTimeout(
            "No Celery worker answered in time: is `celery -A c2cwsgiutils_demo.tasks worker` running?"
        ) from None
    except (kombu.exceptions.OperationalError, ConnectionError) as error:
        raise HTTPServiceUnavailable(f"The Celery broker is unreachable ({type(error).__name__})") from None
    return answer


def includeme(config: Any) -> None:
    """Routes and views of the API."""
    # Imported here so that the sending side of Celery is set up (request IDs in task headers).
    from c2cwsgiutils_demo import tasks  # noqa: F401

    config.add_route("hello", "/api/hello", request_method="GET")
    config.add_view(hello, route_name="hello", renderer="json")
    config.add_route("items", "/api/items")
    config.add_view(list_items, route_name="items", request_method="GET", renderer="json")
    config.add_view(create_item, route_name="items", request_method="POST", renderer="json")
    config.add_route("item_price", "/api/items/{id}/price", request_method="GET")
    config.add_view(item_price, route_name="item_price", renderer="json")
    config.add_route("sleep_in_web", "/api/sleep-in-web", request_method="GET")
    config.add_view(sleep_in_web, route_name="sleep_in_web", renderer="json")
    config.add_route("sleep_in_worker", "/api/sleep-in-worker", request_method="GET")
    config.add_view(sleep_in_worker, route_name="sleep_in_worker", renderer="json")
