"""statsd backend: metrics leave in UDP datagrams sent by a background thread.

A request only formats its lines and appends them to a buffer (no system call); a sender thread
packs the buffer into datagrams of at most 1400 bytes every 50 ms (sooner when a datagram is
full) and sends them with a non-blocking socket. One ``sendto`` per request would cost more CPU
than everything else the timers do, mostly waking the statsd listener up. The sender also
resolves the address, retrying every 30 s while it does not resolve, so DNS is never waited for
by a request nor by start-up. Nothing raises: UDP to a port where nothing listens is lost, as
statsd intends; when the buffer is full (address unresolved, sender behind) new lines are dropped.
Pending lines are sent on :meth:`StatsdBackend.close` and at process exit.

Tag styles (``STATSD_TAG_STYLE``): ``none`` appends the tag values to the name
(``route.GET.hello.200``), ``dogstatsd`` adds ``|#k:v,k2:v2``, ``influx`` writes ``name,k=v:1|c``.
"""

from __future__ import annotations

import atexit
import encodings.idna  # noqa: F401 - getaddrinfo in a thread may fail to import it lazily (LookupError)
import ipaddress
import logging
import os
import socket
import threading
import weakref
from collections.abc import Sequence

from c2cwsgiutils.stats import Key, Tags, TimingItem

__all__ = ["StatsdBackend", "sanitize"]

LOG = logging.getLogger(__name__)

# Characters that have a meaning in the statsd line protocol (or that graphite would split on).
_UNSAFE = str.maketrans(dict.fromkeys(":|@#,=. /\\\n\r\t'\"*?()[]{}<>;", "_"))
_MAX_DATAGRAM = 1400  # stay under a typical MTU: a fragmented UDP datagram is often lost
_MAX_PENDING = 10000  # lines kept while the address does not resolve or the sender is behind
_RETRY_SECONDS = 30.0
_CACHE_SIZE = 10000

_instances: weakref.WeakSet[StatsdBackend] = weakref.WeakSet()


def sanitize(part: str) -> str:
    """A name part (or tag) safe for the statsd line protocol."""
    return part.translate(_UNSAFE)


def pack(lines: Sequence[str], limit: int = _MAX_DATAGRAM) -> list[str]:
    """Newline-joined datagrams of at most ``limit`` characters (a longer line goes alone)."""
    packets: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        if current and size + 1 + len(line) > limit:
            packets.append("\n".join(current))
            current, size = [], 0
        size += len(line) + (1 if current else 0)
        current.append(line)
    if current:
        packets.append("\n".join(current))
    return packets


class StatsdBackend:
    """Sends metrics to ``host:port`` over UDP with an optional ``prefix`` and tag style."""

    def __init__(
        self, address: str, prefix: str = "", tag_style: str = "none", flush_interval: float = 0.05
    ) -> None:
        host, _, port = address.rpartition(":")
        self._host = host.strip("[]")
        self._port = int(port)
        self._prefix = prefix.rstrip(".") + "." if prefix else ""
        self._tag_style = tag_style
        self._interval = flush_interval
        self._target: tuple[str, int] | None = None
        self._socket: socket.socket | None = None
        self._cache: dict[tuple[tuple[str, ...], tuple[tuple[str, str], ...] | None], tuple[str, str]] = {}
        self._closed = False
        try:
            ipaddress.ip_address(self._host)
        except ValueError:
            pass  # a name: the sender thread resolves it
        else:
            self._resolve()  # an IP address needs no DNS: ready at once
        self._start()
        _instances.add(self)

    def __repr__(self) -> str:
        return f"StatsdBackend({self._host}:{self._port})"

    def _start(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._dropped_logged = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="c2c-statsd", daemon=True)
        self._thread.start()

    def _after_fork_in_child(self) -> None:
        # Threads do not survive fork (gunicorn --preload): a new sender, the parent's lines dropped.
        if not self._closed:
            self._start()

    def _resolve(self) -> bool:
        try:
            family, _, _, _, sockaddr = socket.getaddrinfo(
                self._host, self._port, type=socket.SOCK_DGRAM, proto=socket.IPPROTO_UDP
            )[0]
        except Exception as exc:  # OSError, or UnicodeError/LookupError for odd names
            LOG.warning(
                "statsd address %s:%s does not resolve (%s); retrying every %ds",
                self._host,
                self._port,
                exc,
                _RETRY_SECONDS,
            )
            return False
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setblocking(False)
        self._socket = sock
        self._target = (str(sockaddr[0]), int(sockaddr[1]))
        return True

    def _run(self) -> None:
        while self._target is None and not self._resolve():
            if self._stop.wait(_RETRY_SECONDS):
                return
        while not self._stop.is_set():
            self._wake.wait()
            # Let a batch build up (several requests per datagram), unless asked to stop.
            self._stop.wait(self._interval)
            self._wake.clear()
            self._flush()
        self._flush()

    def _flush(self) -> None:
        with self._lock:
            lines, self._pending = self._pending, []
            sock, target = self._socket, self._target
        if not lines or sock is None or target is None:
            return
        for packet in pack(lines):
            try:
                sock.sendto(packet.encode("utf-8"), target)
            except OSError as exc:
                # A full socket buffer (BlockingIOError) or a transient network error: drop it.
                if not self._dropped_logged:
                    self._dropped_logged = True
                    LOG.warning(
                        "Could not send to statsd at %s:%s (%s); dropping", self._host, self._port, exc
                    )

    def _enqueue(self, lines: Sequence[str]) -> None:
        with self._lock:
            if len(self._pending) >= _MAX_PENDING:
                if not self._dropped_logged:
                    self._dropped_logged = True
                    LOG.warning("statsd buffer full (%s:%s unreachable?); dropping", self._host, self._port)
                return
            first = not self._pending
            self._pending.extend(lines)
        if first:
            self._wake.set()

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

    def timing(self, key: Key, seconds: float, tags: Tags) -> None:
        self._enqueue((self.line(key, f"{seconds * 1000:.3f}", "ms", tags),))

    def timings(self, items: Sequence[TimingItem]) -> None:
        self._enqueue([self.line(key, f"{seconds * 1000:.3f}", "ms", tags) for key, seconds, tags in items])

    def counter(self, key: Key, increment: int, tags: Tags) -> None:
        self._enqueue((self.line(key, str(increment), "c", tags),))

    def gauge(self, key: Key, value: float, tags: Tags) -> None:
        text = f"{value:g}" if isinstance(value, float) else str(value)
        if value < 0:
            # "-3|g" would be read as a decrement: set 0 first, as statsd requires.
            self._enqueue((self.line(key, "0", "g", tags), self.line(key, text, "g", tags)))
        else:
            self._enqueue((self.line(key, text, "g", tags),))

    def flush(self) -> None:
        """Send what is pending now (normally done by the sender thread)."""
        self._flush()

    def close(self) -> None:
        """Stop the sender after it sent what is pending."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._thread.join(2)
        self._flush()
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()


def _after_fork_in_child() -> None:
    for backend in list(_instances):
        backend._after_fork_in_child()


def _close_all() -> None:
    for backend in list(_instances):
        backend.close()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_all)
