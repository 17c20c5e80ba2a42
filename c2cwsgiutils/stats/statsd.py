"""statsd backend: one non-blocking UDP datagram per metric (or per batch of timers).

The address is resolved off the request path: at start-up, and again in a background thread while
it does not resolve. Until then metrics are dropped. A send never blocks (non-blocking socket) and
never raises: UDP to a port where nothing listens is silently lost, as statsd intends.

Tag styles (``STATSD_TAG_STYLE``): ``none`` appends the tag values to the name
(``route.GET.hello.200``), ``dogstatsd`` adds ``|#k:v,k2:v2``, ``influx`` writes ``name,k=v:1|c``.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Sequence

from c2cwsgiutils.stats import Key, Tags, TimingItem

__all__ = ["StatsdBackend", "sanitize"]

LOG = logging.getLogger(__name__)

# Characters that have a meaning in the statsd line protocol (or that graphite would split on).
_UNSAFE = str.maketrans(dict.fromkeys(":|@#,=. /\\\n\r\t'\"*?()[]{}<>;", "_"))
_MAX_DATAGRAM = 1400  # stay under a typical MTU: a fragmented UDP datagram is often lost
_RETRY_SECONDS = 30.0
_CACHE_SIZE = 10000


def sanitize(part: str) -> str:
    """A name part (or tag) safe for the statsd line protocol."""
    return part.translate(_UNSAFE)


class StatsdBackend:
    """Sends metrics to ``host:port`` over UDP with an optional ``prefix`` and tag style."""

    def __init__(self, address: str, prefix: str = "", tag_style: str = "none") -> None:
        host, _, port = address.rpartition(":")
        self._host = host.strip("[]")
        self._port = int(port)
        self._prefix = prefix.rstrip(".") + "." if prefix else ""
        self._tag_style = tag_style
        self._target: tuple[str, int] | None = None
        self._socket: socket.socket | None = None
        self._stop = threading.Event()
        self._lost_logged = False
        self._cache: dict[tuple[tuple[str, ...], tuple[tuple[str, str], ...] | None], tuple[str, str]] = {}
        if not self._resolve():
            thread = threading.Thread(target=self._resolve_later, name="c2c-statsd-resolve", daemon=True)
            thread.start()

    def __repr__(self) -> str:
        return f"StatsdBackend({self._host}:{self._port})"

    def _resolve(self) -> bool:
        try:
            family, _, _, _, sockaddr = socket.getaddrinfo(
                self._host, self._port, type=socket.SOCK_DGRAM, proto=socket.IPPROTO_UDP
            )[0]
        except OSError as exc:
            LOG.warning(
                "statsd address %s:%s does not resolve (%s); metrics dropped", self._host, self._port, exc
            )
            return False
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setblocking(False)
        self._socket = sock
        self._target = (str(sockaddr[0]), int(sockaddr[1]))
        return True

    def _resolve_later(self) -> None:
        while not self._stop.wait(_RETRY_SECONDS):
            if self._resolve():
                LOG.info("statsd address %s:%s resolved; sending metrics", self._host, self._port)
                return

    def _format(self, key: Key, tags: Tags) -> tuple[str, str]:
        # The name and the tag suffix of a metric; cached, because the same few keys come back on
        # every request and sanitizing them costs more than the send.
        cache_key = (tuple(key), tuple(tags.items()) if tags else None)
        found = self._cache.get(cache_key)
        if found is not None:
            return found
        suffix = ""
        if tags and self._tag_style == "none":
            name = self._prefix + ".".join(sanitize(p) for p in (*key, *tags.values()))
        else:
            name = self._prefix + ".".join(sanitize(p) for p in key)
            if tags and self._tag_style == "influx":
                name += "".join(f",{sanitize(k)}={sanitize(v)}" for k, v in tags.items())
            elif tags and self._tag_style == "dogstatsd":
                suffix = "|#" + ",".join(f"{sanitize(k)}:{sanitize(v)}" for k, v in tags.items())
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[cache_key] = (name, suffix)
        return name, suffix

    def line(self, key: Key, value: str, kind: str, tags: Tags) -> str:
        """One statsd line, e.g. ``prefix.route.GET.hello.200:12.500|ms``."""
        name, suffix = self._format(key, tags)
        return f"{name}:{value}|{kind}{suffix}"

    def _send(self, data: str) -> None:
        sock, target = self._socket, self._target
        if sock is None or target is None:
            return
        try:
            sock.sendto(data.encode("utf-8"), target)
        except OSError as exc:
            # A full socket buffer (BlockingIOError) or a transient network error: drop the metric.
            if not self._lost_logged:
                self._lost_logged = True
                LOG.warning("Could not send to statsd at %s:%s (%s); dropping", self._host, self._port, exc)

    def timing(self, key: Key, seconds: float, tags: Tags) -> None:
        self._send(self.line(key, f"{seconds * 1000:.3f}", "ms", tags))

    def timings(self, items: Sequence[TimingItem]) -> None:
        lines = [self.line(key, f"{seconds * 1000:.3f}", "ms", tags) for key, seconds, tags in items]
        packet = "\n".join(lines)
        if len(packet) <= _MAX_DATAGRAM:
            self._send(packet)
            return
        packet = ""
        for line in lines:
            if packet and len(packet) + len(line) + 1 > _MAX_DATAGRAM:
                self._send(packet)
                packet = line
            else:
                packet = f"{packet}\n{line}" if packet else line
        self._send(packet)

    def counter(self, key: Key, increment: int, tags: Tags) -> None:
        self._send(self.line(key, str(increment), "c", tags))

    def gauge(self, key: Key, value: float, tags: Tags) -> None:
        # A negative value would be read as a decrement ("-3|g"): reset to 0 first, as statsd requires.
        text = f"{value:g}" if isinstance(value, float) else str(value)
        if value < 0:
            self._send(self.line(key, "0", "g", tags) + "\n" + self.line(key, text, "g", tags))
        else:
            self._send(self.line(key, text, "g", tags))

    def close(self) -> None:
        self._stop.set()
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()
