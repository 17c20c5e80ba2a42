"""The application that test_prometheus.py runs under gunicorn with two workers."""

from __future__ import annotations

import os
import time
from typing import Any

from pyramid.config import Configurator

from c2cwsgiutils import stats


def hello(request: Any) -> dict[str, int]:
    pid = str(os.getpid())
    stats.increment_counter(["hello", "by_pid"], tags={"pid": pid})
    stats.set_gauge(["worker", "up"], 1, tags={"pid": pid})
    time.sleep(0.3)  # keeps this sync worker busy so that concurrent requests reach the other one
    return {"pid": os.getpid()}


def make_app() -> Any:
    config = Configurator(settings={"c2c.prometheus": "true"})
    config.include("c2cwsgiutils.stats")
    config.add_route("hello", "/hello")
    config.add_view(hello, route_name="hello", renderer="json")
    return config.make_wsgi_app()


application = make_app()
