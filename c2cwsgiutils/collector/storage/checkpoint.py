"""WAL checkpoints of the SQLite storage, in a background thread instead of inside a commit.

SQLite's automatic checkpoint runs in the ``COMMIT`` that crosses 1000 WAL pages: that commit
copies the pages into the database and fsyncs both files while every writer waits (on this kind
of machine single-record commits took ~1.6-2.3x longer wall time on average). The writer connection
turns it off (``wal_autocheckpoint=0``) and this thread checkpoints instead, a few times a second
while there are writes, in ``PASSIVE`` mode: it copies pages while the writer goes on appending.

A passive checkpoint never waits for the writer, so under a steady load the WAL would never be
complete at a moment when a writer could start it over, and it would grow. Once it holds more
than ``FINISH_PAGES`` pages, the thread finishes the job while holding the storage's write lock
(what is left to copy since the previous pass is small); the next writer then restarts the WAL
from the beginning.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from c2cwsgiutils.collector.storage.outage import OutageLog

__all__ = ["FINISH_PAGES", "Checkpointer"]

LOG = logging.getLogger(__name__)

INTERVAL = 0.25  # seconds between passes while there are writes
FINISH_PAGES = 4000  # ~16 MB of WAL at 4 KiB pages


class Checkpointer:
    """The checkpoint thread of one process; :meth:`wrote` after each commit, :meth:`stop` at the end."""

    def __init__(
        self, connect: Callable[[], Any], write_lock: Callable[[], AbstractContextManager[Any]]
    ) -> None:
        self._connect = connect
        self._write_lock = write_lock
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="c2c-collector-checkpoint", daemon=True)
        self._thread.start()

    def wrote(self) -> None:
        """Say that a transaction was committed (cheap: sets an event, when not set yet)."""
        # Event.set() takes the event's lock and notifies its waiters (~6,000 instructions): once
        # per checkpoint pass is enough, is_set() is a read.
        if not self._wake.is_set():
            self._wake.set()

    def stop(self) -> None:
        """Stop the thread (and wait for it)."""
        self._stopped = True
        self._wake.set()
        self._thread.join(10)

    def _run(self) -> None:
        connection = None
        outage = OutageLog(LOG, "Collector WAL checkpoint")
        try:
            while True:
                self._wake.wait()
                if self._stopped:
                    return
                self._wake.clear()
                try:
                    if connection is None:
                        connection = self._connect()
                    self._checkpoint(connection)
                except Exception as error:  # a checkpoint is retried at the next pass; never kill the thread
                    outage.failed(error)
                    connection = None
                else:
                    outage.worked()
                threading.Event().wait(INTERVAL)  # at most a few passes a second
        finally:
            if connection is not None:
                connection.close()

    def _checkpoint(self, connection: Any) -> None:
        busy, log_pages, _copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if not busy and log_pages > FINISH_PAGES:
            with self._write_lock():
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
