"""Internal. The collector handler's disk spool: bounded NDJSON segment files, one writer process each.

Layout of the spool directory (created ``0700``)::

    {time_ns:020d}-{owner}.ndjson   a segment: one serialised record per line, oldest name first
    {owner}.lock                    held (``flock``) by the process ``owner`` as long as it lives
    spool.usage                     the bytes of every segment in the directory (``flock``-ed count)

``owner`` is ``{pid}-{random token}``, new in every process and forked child: two processes never
share it, even with the same pid (two containers on one volume are both pid 1). A process writes
only to its own segments. Segments whose owner's lock can be taken belong to a dead process: they
are adopted (renamed to the adopter, keeping their time prefix so that the oldest are still resent
first). The lock, not the pid, says whether an owner is alive.

The bound holds for the directory as a whole: every append reads and updates ``spool.usage``
under its ``flock`` (a rescan sets it to the real total every 30 s, correcting what a killed
process left). Writes are single ``os.write`` calls on an ``O_APPEND`` descriptor with no
user-space buffer; a write that fails half-way (disk full) is cut back (``ftruncate``), so a
segment only ever holds whole lines. A sent segment that cannot be deleted is emptied, or else
remembered as sent: it is never read again by this process. A directory or segment owned by
another user, or writable by group or others, is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MAX_RECORD_BYTES", "Chunk", "Spool", "SpoolRefused"]

_SUFFIX = ".ndjson"
_USAGE = "spool.usage"
# The default of the collector's C2C_COLLECTOR_MAX_BODY_BYTES: a record larger than this is
# refused by a collector (413) whatever the batch, so it is not sent at all.
MAX_RECORD_BYTES = 16 * 1024 * 1024
_MAX_NOTICES = 32


class SpoolRefused(PermissionError):
    """The spool directory is not safe to use (another owner, or writable by others)."""


@dataclass(frozen=True)
class Chunk:
    """Complete lines read from one segment, from ``start`` to ``end`` (byte offsets).

    ``too_large``: the sizes of lines skipped because they exceed the record limit.
    """

    path: Path
    start: int
    end: int
    lines: list[str]
    too_large: tuple[int, ...] = ()


def _owner(name: str) -> str:
    return name[: -len(_SUFFIX)].partition("-")[2]


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _untrusted(st: os.stat_result) -> str | None:
    """Why a file of the spool must not be trusted, or ``None``."""
    if st.st_uid != os.geteuid():
        return f"owned by uid {st.st_uid}, not by this process's uid {os.geteuid()}"
    if st.st_mode & 0o022:
        return f"writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def _make_directory(directory: Path) -> None:
    """Create ``directory`` and its missing parents with owner-only permissions (``0700``)."""
    missing = []
    path = directory
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)


def check_directory(directory: Path) -> None:
    """Raise :class:`SpoolRefused` unless ``directory`` is ours and writable by us alone.

    Its parent must not let others replace it: owned by us or root, and not writable by others
    unless sticky (``/tmp``).
    """
    st = os.stat(directory)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(f"{directory} is not a directory")
    reason = _untrusted(st)
    if reason:
        raise SpoolRefused(
            f"spool directory {directory} is {reason}: refused, records planted there would be sent "
            "as this application's; use a directory of this user with mode 0700"
        )
    parent = os.stat(directory.resolve().parent)
    if parent.st_uid not in (0, os.geteuid()) or (
        parent.st_mode & 0o022 and not parent.st_mode & stat.S_ISVTX
    ):
        raise SpoolRefused(
            f"the parent of the spool directory {directory} is owned by uid {parent.st_uid} "
            f"(mode {stat.S_IMODE(parent.st_mode):04o}): refused, another user could replace the "
            "spool; use a directory of this user"
        )


class Spool:
    """A bounded set of append-only segment files in one directory, one owner per process (thread-safe).

    ``notices`` collects what the owner should log once (a refused segment, the spool becoming
    unusable); ``unusable`` is the reason the last write failed (``None`` once one succeeds).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        max_bytes: int,
        segment_bytes: int = 0,
        max_record_bytes: int = MAX_RECORD_BYTES,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or min(max(max_bytes // 10, 64 * 1024), 8 * 1024 * 1024)
        self.max_record_bytes = max_record_bytes
        self._lock = threading.Lock()
        self._owner = ""
        self._lock_fd = -1
        self._usage_fd = -1
        self._fd = -1
        self._current: Path | None = None
        self._current_size = 0
        self._offsets: dict[Path, int] = {}
        self._ends: dict[Path, int] = {}  # segments with a torn tail that could not be cut: read up to here
        self._sent: set[Path] = set()  # fully sent, but could not be deleted: never read again
        self._refused: set[str] = set()
        self.opened = False
        self.unusable: str | None = None
        self.notices: list[str] = []
        # Group commit of append_durable: writes numbered, synced up to, failed up to.
        self._sync_lock = threading.Lock()
        self._written = 0
        self._synced = 0
        self._broken = 0

    # ---- life cycle ----------------------------------------------------------------------

    def open(self) -> None:
        """Create (``0700``) and check the directory, take a new owner's lock, adopt orphans.

        Raises ``OSError`` (:class:`SpoolRefused` for a directory others could write to).
        """
        with self._lock:
            _make_directory(self.directory)
            check_directory(self.directory)
            self._owner = f"{os.getpid()}-{os.urandom(8).hex()}"
            flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(self.directory / f"{self._owner}.lock", flags | os.O_EXCL, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                usage_fd = os.open(self.directory / _USAGE, flags, 0o600)
            except OSError:
                os.close(fd)
                raise
            reason = _untrusted(os.fstat(usage_fd))
            if reason:
                os.close(usage_fd)
                os.close(fd)
                raise SpoolRefused(f"{self.directory / _USAGE} is {reason}: refused")
            self._lock_fd = fd
            self._usage_fd = usage_fd
            self.opened = True
        self.scan()

    def close(self) -> None:
        """Close the current segment and release the lock; the segments stay for the next process."""
        with self._lock:
            self._close_fd(sync=True)
            if self._lock_fd >= 0:
                with contextlib.suppress(OSError):
                    (self.directory / f"{self._owner}.lock").unlink()  # still locked: no adopter in between
                os.close(self._lock_fd)
            if self._usage_fd >= 0:
                os.close(self._usage_fd)
            self._lock_fd = self._usage_fd = -1
            self.opened = False

    def after_fork(self) -> None:
        """In a forked child: forget the parent's descriptors (without unlocking them) and reopen."""
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        was_open = self.opened
        for fd in (self._fd, self._lock_fd, self._usage_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)  # closing our copy does not release the parent's flock
        self._fd = self._lock_fd = self._usage_fd = -1
        self._current = None
        self._offsets.clear()
        self._ends.clear()
        self._sent.clear()
        self.opened = False
        if was_open:
            try:
                self.open()
            except OSError as exc:
                self._unusable(exc)

    # ---- the directory-wide count ----------------------------------------------------------

    @contextlib.contextmanager
    def _usage(self) -> Iterator[list[int]]:
        """The directory's bytes, under its ``flock``: ``[bytes]``, written back if changed."""
        fd = self._usage_fd
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            text = os.pread(fd, 24, 0).strip()
            value = int(text) if text.isdigit() else 0
            holder = [value]
            yield holder
            if holder[0] != value:
                with contextlib.suppress(OSError):
                    os.pwrite(fd, b"%020d\n" % max(0, holder[0]), 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    # ---- writing -------------------------------------------------------------------------

    def append(self, lines: Sequence[str]) -> int:
        """Append ``lines`` (no trailing newline); returns how many were not written (the newest).

        Those did not fit in the bound, or the spool is unusable (``unusable`` says why).
        """
        if not lines:
            return 0
        data = ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace")
        with self._lock:
            if not self.opened:
                return len(lines)
            try:
                with self._usage() as usage:
                    kept = len(lines)
                    if usage[0] + len(data) > self.max_bytes:
                        data, kept = self._fitting(lines, self.max_bytes - usage[0])
                    if data:
                        self._write(data)
                        usage[0] += len(data)
            except OSError as exc:
                self._unusable(exc)
                return len(lines)
            self.unusable = None
            return len(lines) - kept

    def append_durable(self, lines: Sequence[str]) -> bool:
        """Append all of ``lines`` and ``fdatasync`` them, or none (full, closed, I/O error): ``False``.

        The relay collector acknowledges a batch only once this returned ``True``. Group commit:
        the threads appending meanwhile share one ``fdatasync``.
        """
        if not lines:
            return True
        data = ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace")
        with self._lock:
            if not self.opened:
                return False
            try:
                with self._usage() as usage:
                    if usage[0] + len(data) > self.max_bytes:
                        return False
                    self._write(data, durable=True)
                    usage[0] += len(data)
            except OSError as exc:
                self._close_fd(sync=True)
                self._unusable(exc)
                return False
            self.unusable = None
            self._written += 1
            ticket = self._written
        return self._sync(ticket)

    def _unusable(self, exc: OSError) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if self.unusable is None:
            self._notice(f"spool directory {self.directory} is unusable ({reason})")
        self.unusable = reason

    def _notice(self, text: str) -> None:
        if len(self.notices) < _MAX_NOTICES:
            self.notices.append(text)

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

    @staticmethod
    def _fitting(lines: Sequence[str], room: int) -> tuple[bytes, int]:
        """The oldest lines that fit in ``room`` bytes, and how many they are."""
        kept: list[bytes] = []
        for line in lines:
            encoded = line.encode("utf-8", "backslashreplace") + b"\n"
            if len(encoded) > room:
                break
            kept.append(encoded)
            room -= len(encoded)
        return b"".join(kept), len(kept)

    def _write(self, data: bytes, durable: bool = False) -> None:
        if self._fd < 0 or self._current_size >= self.segment_bytes:
            self._rotate(durable)
        start = self._current_size
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError:
            if len(view) < len(data):
                self._cut(start)
            raise
        self._current_size += len(data)

    def _cut(self, size: int) -> None:
        """Remove what a failed write left after ``size`` bytes: a segment holds whole lines only."""
        try:
            os.ftruncate(self._fd, size)  # shrinking needs no free space
        except OSError:
            # Cannot cut it: the segment is read up to ``size`` only, and written no more.
            assert self._current is not None
            self._ends[self._current] = size
            self._close_fd(sync=False)

    def _rotate(self, durable: bool = False) -> None:
        self._close_fd(sync=True)
        name = f"{time.time_ns():020d}-{self._owner}{_SUFFIX}"
        path = self.directory / name
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        self._fd = os.open(path, flags, 0o600)
        self._current = path
        self._current_size = 0
        if durable:
            _sync_directory(self.directory)  # the new segment's name is durable too

    # ---- reading back --------------------------------------------------------------------

    def scan(self) -> None:
        """Adopt the segments of dead processes and recount the directory's bytes."""
        with self._lock:
            if not self.opened:
                return
            try:
                entries = list(os.scandir(self.directory))
            except OSError:
                return
            owners = set()
            for entry in entries:
                if entry.name.endswith(_SUFFIX) and self._trusted(entry.name, entry.path):
                    owners.add(_owner(entry.name))
            for owner in sorted(owners - {self._owner, ""}):
                self._adopt_if_dead(owner)
            with contextlib.suppress(OSError), self._usage() as usage:
                total = 0
                for entry in os.scandir(self.directory):
                    if entry.name.endswith(_SUFFIX):
                        with contextlib.suppress(OSError):
                            total += entry.stat(follow_symlinks=False).st_size
                usage[0] = total

    def _trusted(self, name: str, path: str) -> bool:
        """Whether the segment ``name`` is a regular file of ours, not writable by others."""
        try:
            st = os.lstat(path)
        except OSError:
            return False
        reason = "not a regular file" if not stat.S_ISREG(st.st_mode) else _untrusted(st)
        if reason is None:
            return True
        if name not in self._refused:
            self._refused.add(name)
            self._notice(f"segment {path} is {reason}: refused (neither sent nor deleted)")
        return False

    def _adopt_if_dead(self, owner: str) -> None:
        """Rename the segments of ``owner`` to ours when its lock can be taken (its owner is dead)."""
        lock_path = self.directory / f"{owner}.lock"
        fd = -1
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except FileNotFoundError:
            pass  # no lock at all: the owner closed its spool (a live owner takes it before writing)
        except OSError:
            if fd >= 0:
                os.close(fd)
            return  # alive (or a lock we cannot open: leave its segments alone)
        # Holding the dead owner's lock while renaming: a concurrent adopter cannot race us, and
        # rename() is atomic so each segment gets exactly one new owner.
        try:
            for entry in os.scandir(self.directory):
                name = entry.name
                if name.endswith(_SUFFIX) and _owner(name) == owner and self._trusted(name, entry.path):
                    stamp = name.split("-", 1)[0]
                    with contextlib.suppress(OSError):
                        os.rename(entry.path, self.directory / f"{stamp}-{self._owner}{_SUFFIX}")
            with contextlib.suppress(OSError):
                lock_path.unlink()
        finally:
            if fd >= 0:
                os.close(fd)

    def _own_segments(self) -> list[Path]:
        suffix = f"-{self._owner}{_SUFFIX}"
        return sorted(
            self.directory / name
            for name in os.listdir(self.directory)
            if name.endswith(suffix) and self.directory / name not in self._sent
        )

    def _size(self, path: Path) -> int:
        end = self._ends.get(path)
        return end if end is not None else path.stat().st_size

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
                    size = self._size(path)
                except OSError:
                    continue
                if size > self._offsets.get(path, 0):
                    return True
            return False

    def next_chunk(self, max_lines: int, max_bytes: int) -> Chunk | None:
        """The oldest unsent complete lines (at most ``max_lines`` / about ``max_bytes``), or ``None``.

        A line longer than ``max_bytes`` comes alone; one longer than ``max_record_bytes`` is
        skipped (its size in ``too_large``). A torn tail (a writer killed in the middle of a
        write) is skipped.
        """
        with self._lock:
            if not self.opened:
                return None
            try:
                segments = self._own_segments()
            except OSError:
                return None
            for path in segments:
                try:
                    chunk = self._read(path, max_lines, max_bytes)
                except OSError:
                    continue
                if chunk is not None:
                    return chunk
            return None

    def _read(self, path: Path, max_lines: int, max_bytes: int) -> Chunk | None:
        start = self._offsets.get(path, 0)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or _untrusted(st):
                self._trusted(path.name, str(path))  # says why, once
                self._sent.add(path)
                return None
            size = self._ends.get(path, st.st_size)
            data = os.pread(fd, min(max_bytes, size - start), start) if size > start else b""
            end = data.rfind(b"\n")
            if end >= 0:
                parts = data[: end + 1].split(b"\n")[:-1][:max_lines]
                consumed = sum(len(part) + 1 for part in parts)
                lines = [part.decode("utf-8", "replace") for part in parts if part]
                return Chunk(path, start, start + consumed, lines)
            # Our own writes are whole lines (written under the lock, cut back on failure): no
            # newline in what was read is a line longer than max_bytes, or a dead writer's torn tail.
            if start + len(data) >= size:
                if path == self._current:
                    return None  # nothing new in the segment being written
                return Chunk(path, start, size, [])  # empty, or a dead writer's torn last line
            chunk = self._long_line(fd, path, start, size, max_bytes)
            if not chunk.lines and not chunk.too_large and path == self._current:
                return None  # never drop the tail of the segment being written
            return chunk
        finally:
            os.close(fd)

    def _long_line(self, fd: int, path: Path, start: int, size: int, step: int) -> Chunk:
        """The line at ``start``, longer than ``step`` bytes: alone, or skipped when too large."""
        position = start + step
        newline = -1
        while position < size:
            block = os.pread(fd, min(max(step, 65536), size - position), position)
            if not block:
                break
            found = block.find(b"\n")
            if found >= 0:
                newline = position + found
                break
            position += len(block)
        if newline < 0:
            return Chunk(path, start, size, [])  # a torn tail
        length = newline - start
        if length > self.max_record_bytes:
            return Chunk(path, start, newline + 1, [], too_large=(length,))
        line = os.pread(fd, length, start).decode("utf-8", "replace")
        return Chunk(path, start, newline + 1, [line])

    def ack(self, chunk: Chunk) -> None:
        """Mark ``chunk`` sent: advance its segment's offset, delete the segment once fully sent."""
        with self._lock:
            self._offsets[chunk.path] = chunk.end
            try:
                size = self._size(chunk.path)
            except OSError:
                self._offsets.pop(chunk.path, None)
                return
            if chunk.end >= size:
                if chunk.path == self._current:
                    self._close_fd(sync=False)
                self._remove(chunk.path)

    def _remove(self, path: Path) -> None:
        """Delete a sent segment; one that cannot be deleted is emptied, or at least never resent."""
        self._offsets.pop(path, None)
        self._ends.pop(path, None)
        try:
            with self._usage() as usage:  # the count changes with the file, never apart from it
                size = path.stat().st_size
                try:
                    path.unlink()
                except FileNotFoundError:
                    return
                except OSError as exc:
                    self._sent.add(path)  # in any case: never read again by this process
                    self._cannot_delete(path, exc)  # raises when it cannot empty it either
                usage[0] -= size
        except OSError:
            self._sent.add(path)

    def _cannot_delete(self, path: Path, exc: OSError) -> None:
        try:
            os.truncate(path, 0)  # not sent again by the next process either
        except OSError:
            self._notice(
                f"cannot delete nor empty the sent segment {path} ({type(exc).__name__}: {exc}); "
                "the next process using this spool will send it again"
            )
            raise
        self._notice(f"cannot delete the sent segment {path} ({type(exc).__name__}: {exc}); emptied it")
