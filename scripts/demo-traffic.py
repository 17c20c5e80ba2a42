"""Send a little traffic to the demo so that the collector has something to show.

Usage: python scripts/demo-traffic.py [BASE_URL] (default http://localhost:8080). Each request
carries an ``X-Request-ID`` of the form ``demo-<n>-<what>``, so it is easy to find in the
collector.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request

CALLS = [
    ("GET", "/api/hello", None),
    ("POST", "/api/items", {"name": "first item"}),
    ("POST", "/api/items", {"name": ""}),  # a JSON 400
    ("GET", "/api/items", None),
    ("GET", "/api/items/1/price", None),  # through the OpenTelemetry-instrumented prices service
    ("GET", "/api/sleep-in-web?seconds=0.3", None),
    ("GET", "/api/sleep-in-worker?seconds=0.5", None),
    ("GET", "/api/no-such-page", None),  # a JSON 404
    ("GET", "/c2c/health_check", None),
]


def call(base: str, number: int, method: str, path: str, body: object) -> str:
    request_id = f"demo-{number}-{path.strip('/').split('?')[0].replace('/', '-')}"
    data = json.dumps(body).encode() if body is not None else None
    headers = {"X-Request-ID": request_id, "Content-Type": "application/json"}
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our own demo
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        return f"{method} {path}: {error}"
    return f"{method} {path} -> {status} (X-Request-ID: {request_id})"


def main() -> int:
    base = (sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8080").rstrip("/")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait for the service
        try:
            with urllib.request.urlopen(base + "/api/hello", timeout=2):  # noqa: S310
                break
        except OSError:
            time.sleep(0.5)
    for number, (method, path, body) in enumerate(CALLS, 1):
        print(call(base, number, method, path, body), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
