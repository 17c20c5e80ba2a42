"""The collector handler's disk spool: bounded NDJSON segment files, one writer process each.

Layout of the spool directory::

    {time_ns:020d}-{pid}.ndjson   a segment: one serialised record per line, oldest name first
    {pid}.lock                    held (``flock``) by process ``pid`` as long as it lives

A process writes only to its own segments. Segments whose owner's lock can be taken belong to a
dead process: they are adopted (renamed to the adopter's pid, keeping their time prefix so that
the oldest are still resent first). The lock, not the pid, says whether an owner is alive, so a
recycled pid does not keep orphans hostage.

Writes are single ``os.write`` calls on an ``O_APPEND`` descriptor, with no user-space buffer:
a forked child never flushes its parent's buffered data into the parent's segment.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Chunk", "Spool"]

_SUFFIX = ".ndjson"


@dataclass(frozen=True)
class Chunk:
    """Complete lines read from one segment, from ``start`` to ``end`` (byte offsets)."""

    path: Path
    start: int
    end: int
    lines: list[str]


def _segment_pid(name: str) -> int | None:
    stem = name[: -len(_SUFFIX)]
    _, _, pid = stem.partition("-")
    return int(pid) if pid.isdigit() else None


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """A bounded, per-process set of append-only segment files in one directory (thread-safe)."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int, segment_bytes: int = 0) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or min(max(max_bytes // 10, 64 * 1024), 8 * 1024 * 1024)
        self._lock = threading.Lock()
        self._pid = 0
        self._lock_fd = -1
        self._fd = -1
        self._current: Path | None = None
        self._current_size = 0
        self._total = 0  # bytes in the directory at the last scan, plus our writes since
        self._offsets: dict[Path, int] = {}
        self.opened = False
        # Group commit of append_durable: writes numbered, synced up to, failed up to.
        self._sync_lock = threading.Lock()
        self._written = 0
        self._synced = 0
        self._broken = 0

    # ---- life cycle ----------------------------------------------------------------------

    def open(self) -> None:
        """Create the directory, take this process's lock, adopt orphans; raises ``OSError``."""
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._pid = os.getpid()
            fd = os.open(self.directory / f"{self._pid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            # A live process with our pid cannot exist, so this lock is free unless a forked
            # sibling with the same descriptor holds it: never block on it.
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._lock_fd = fd
            self.opened = True
        self.scan()

    def close(self) -> None:
        """Close the current segment and release the lock; the segments stay for the next process."""
        with self._lock:
            self._close_fd(sync=True)
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                with contextlib.suppress(OSError):
                    (self.directory / f"{self._pid}.lock").unlink()
            self._lock_fd = -1
            self.opened = False

    def after_fork(self) -> None:
        """In a forked child: forget the parent's descriptors (without unlocking them) and reopen."""
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        was_open = self.opened
        for fd in (self._fd, self._lock_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)  # closing our copy does not release the parent's flock
        self._fd = self._lock_fd = -1
        self._current = None
        self._offsets.clear()
        self.opened = False
        if was_open:
            self.open()

    # ---- writing -------------------------------------------------------------------------

    def append(self, lines: Sequence[str]) -> int:
        """Append ``lines`` (no trailing newline); returns how many were dropped (spool full or I/O error)."""
        if not lines:
            return 0
        data = ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace")
        with self._lock:
            if not self.opened:
                return len(lines)
            if self._total + len(data) > self.max_bytes:
                return self._append_partial(lines)
            try:
                self._write(data)
            except OSError:
                return len(lines)
            return 0

    def append_durable(self, lines: Sequence[str]) -> bool:
        """Append all of ``lines`` and ``fdatasync`` them, or none (full, closed, I/O error): ``False``.

        The relay collector acknowledges a batch only once this returned ``True``. Group commit:
        the threads appending meanwhile share one ``fdatasync``. A failed write may leave a torn
        tail, which ``next_chunk`` skips (the next write opens a new segment).
        """
        if not lines:
            return True
        data = ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace")
        with self._lock:
            if not self.opened or self._total + len(data) > self.max_bytes:
                return False
            try:
                self._write(data, durable=True)
            except OSError:
                self._close_fd(sync=True)
                return False
            self._written += 1
            ticket = self._written
        return self._sync(ticket)

    def _sync(self, ticket: int) -> bool:
        """Wait until write ``ticket`` is on disk (one ``fdatasync`` for every write before it)."""
        with self._sync_lock:
            if self._synced < ticket:
                fd = -1
                with self._lock:
                    target = self._written  # earlier segments were synced when rotated
                    try:
                        fd = os.dup(self._fd) if self._fd >= 0 else -1  # safe from a concurrent close
                    except OSError:
                        self._broken = target
                try:
                    if fd >= 0:
                        os.fdatasync(fd)
                except OSError:
                    with self._lock:
                        self._broken = max(self._broken, target)
                finally:
                    if fd >= 0:
                        os.close(fd)
                self._synced = max(self._synced, target)
        return ticket > self._broken

    def _close_fd(self, sync: bool) -> None:
        """Close the current segment (under ``_lock``), syncing it first when writes may be unsynced."""
        if self._fd < 0:
            return
        if sync and self._written > self._synced:
            try:
                os.fdatasync(self._fd)
            except OSError:
                self._broken = self._written
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = -1
        self._current = None

    def _append_partial(self, lines: Sequence[str]) -> int:
        """Write the lines that still fit (the oldest first); the rest are dropped."""
        room = self.max_bytes - self._total
        kept: list[bytes] = []
        for line in lines:
            encoded = line.encode("utf-8", "backslashreplace") + b"\n"
            if len(encoded) > room:
                break
            kept.append(encoded)
            room -= len(encoded)
        if kept:
            try:
                self._write(b"".join(kept))
            except OSError:
                return len(lines)
        return len(lines) - len(kept)

    def _write(self, data: bytes, durable: bool = False) -> None:
        if self._fd < 0 or self._current_size >= self.segment_bytes:
            self._rotate(durable)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._current_size += len(data)
        self._total += len(data)

    def _rotate(self, durable: bool = False) -> None:
        self._close_fd(sync=True)
        name = f"{time.time_ns():020d}-{self._pid}{_SUFFIX}"
        self._current = self.directory / name
        self._fd = os.open(self._current, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._current_size = 0
        if durable:
            _sync_directory(self.directory)  # the new segment's name is durable too

    # ---- reading back --------------------------------------------------------------------

    def scan(self) -> None:
        """Adopt the segments of dead processes and recount the directory's size."""
        with self._lock:
            if not self.opened:
                return
            try:
                names = [n for n in os.listdir(self.directory) if n.endswith(_SUFFIX)]
            except OSError:
                return
            foreign = {_segment_pid(n) for n in names} - {None, self._pid}
            for pid in sorted(p for p in foreign if p is not None):
                self._adopt_if_dead(pid)
            total = 0
            for entry in os.scandir(self.directory):
                if entry.name.endswith(_SUFFIX):
                    with contextlib.suppress(OSError):
                        total += entry.stat().st_size
            self._total = total

    def _adopt_if_dead(self, pid: int) -> None:
        """Rename the segments of ``pid`` to ours when its lock can be taken (its owner is dead)."""
        lock_path = self.directory / f"{pid}.lock"
        fd = -1
        try:
            fd = os.open(lock_path, os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except FileNotFoundError:
            pass  # no lock at all: the owner closed its spool or died before taking it
        except OSError:
            if fd >= 0:
                os.close(fd)
            return  # alive
        # Holding the dead owner's lock while renaming: a concurrent adopter cannot race us, and
        # rename() is atomic so each segment gets exactly one new owner.
        try:
            for name in os.listdir(self.directory):
                if name.endswith(_SUFFIX) and _segment_pid(name) == pid:
                    stamp = name.split("-", 1)[0]
                    with contextlib.suppress(OSError):
                        os.rename(self.directory / name, self.directory / f"{stamp}-{self._pid}{_SUFFIX}")
            with contextlib.suppress(OSError):
                lock_path.unlink()
        finally:
            if fd >= 0:
                os.close(fd)

    def _own_segments(self) -> list[Path]:
        suffix = f"-{self._pid}{_SUFFIX}"
        return sorted(p for p in self.directory.iterdir() if p.name.endswith(suffix))

    def pending(self) -> bool:
        """Whether any of our (or adopted) segments still holds unsent lines."""
        with self._lock:
            if not self.opened:
                return False
            try:
                segments = self._own_segments()
            except OSError:
                return False
            for path in segments:
                try:
                    size = path.stat().st_size
                except OSError:
                    continue
                if size > self._offsets.get(path, 0):
                    return True
            return False

    def next_chunk(self, max_lines: int, max_bytes: int) -> Chunk | None:
        """The oldest unsent complete lines (at most ``max_lines`` / about ``max_bytes``), or ``None``."""
        with self._lock:
            if not self.opened:
                return None
            try:
                segments = self._own_segments()
            except OSError:
                return None
            for path in segments:
                start = self._offsets.get(path, 0)
                try:
                    with open(path, "rb") as file:
                        file.seek(start)
                        data = file.read(max_bytes)
                except OSError:
                    continue
                end = data.rfind(b"\n")
                if end < 0:
                    if path != self._current and len(data) < max_bytes:
                        self._remove(path)  # an empty or torn tail of a dead writer: nothing to send
                        continue
                    if path != self._current:
                        end = data.find(b"\n")  # a line longer than max_bytes: read it whole
                        if end < 0:
                            continue
                    else:
                        continue
                parts = data[: end + 1].split(b"\n")[:-1][:max_lines]
                consumed = sum(len(part) + 1 for part in parts)
                lines = [part.decode("utf-8", "replace") for part in parts if part]
                return Chunk(path, start, start + consumed, lines)
            return None

    def ack(self, chunk: Chunk) -> None:
        """Mark ``chunk`` sent: advance its segment's offset, delete the segment once fully sent."""
        with self._lock:
            self._offsets[chunk.path] = chunk.end
            try:
                size = chunk.path.stat().st_size
            except OSError:
                self._offsets.pop(chunk.path, None)
                return
            if chunk.end >= size:
                if chunk.path == self._current:
                    os.close(self._fd)
                    self._fd = -1
                    self._current = None
                self._remove(chunk.path)

    def _remove(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            self._total -= path.stat().st_size
            path.unlink()
        self._offsets.pop(path, None)
