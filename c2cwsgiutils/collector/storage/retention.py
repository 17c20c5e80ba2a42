"""Background deletion of records older than ``C2C_COLLECTOR_RETENTION_DAYS``.

A daemon thread wakes up every ``interval`` seconds and deletes old records in batches of
``C2C_COLLECTOR_RETENTION_BATCH``, one short transaction each with a pause in between, so that
ingestion (which needs the write lock on SQLite) never waits behind one long delete.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import TYPE_CHECKING

from c2cwsgiutils.collector.storage.outage import OutageLog

if TYPE_CHECKING:
    from c2cwsgiutils.collector.storage.backends import Storage

__all__ = ["RetentionThread", "purge_once"]

LOG = logging.getLogger(__name__)


def purge_once(
    storage: Storage, days: float, batch: int, pause: float = 0.05, now: float | None = None
) -> int:
    """Delete every record older than ``days`` in batches; returns how many were deleted."""
    cutoff_us = int(((time.time() if now is None else now) - days * 86400) * 1_000_000)
    total = 0
    while True:
        deleted = storage.delete_older_than(cutoff_us, batch)
        total += deleted
        if deleted < batch:
            return total
        time.sleep(pause)


class RetentionThread(threading.Thread):
    """Runs :func:`purge_once` every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, storage: Storage, days: float, batch: int, interval: float = 60.0) -> None:
        super().__init__(name="c2c-collector-retention", daemon=True)
        self.storage = storage
        self.days = days
        self.batch = batch
        self.interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        # A random first delay spreads the work of several workers started together.
        delay = random.uniform(0, min(self.interval, 5.0))
        outage = OutageLog(LOG, "Retention: purge")
        while not self._stopped.wait(delay):
            try:
                deleted = purge_once(self.storage, self.days, self.batch)
            except Exception as error:  # the thread must survive a database outage
                outage.failed(error)
            else:
                outage.worked()
                if deleted:
                    LOG.info("Retention: deleted %d records older than %g days", deleted, self.days)
            delay = self.interval

    def stop(self) -> None:
        """Ask the thread to stop and wait a little for it."""
        self._stopped.set()
        if self.is_alive():
            self.join(timeout=5)
