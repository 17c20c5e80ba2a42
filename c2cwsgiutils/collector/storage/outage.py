"""The storage unavailable, as opposed to a record refused: the errors that say so, and their report.

Ingestion answers such an error with ``503`` and ``Retry-After`` (see
:mod:`c2cwsgiutils.collector.http.admission`); the storage's own background threads (retention,
WAL checkpoints) report it in one line when it starts and one when it ends (:class:`OutageLog`).
"""

from __future__ import annotations

import logging
import sqlite3

import sqlalchemy.exc

__all__ = ["OutageLog", "StorageUnavailable", "storage_errors"]


class StorageUnavailable(Exception):
    """The storage cannot take writes now (raised by a storage, or by :func:`storage_errors`)."""


def storage_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "the storage is unavailable", not "this record is wrong"."""
    errors: list[type[BaseException]] = [
        StorageUnavailable,
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.InterfaceError,
        sqlalchemy.exc.TimeoutError,
        sqlite3.OperationalError,
        sqlite3.InterfaceError,
    ]
    try:
        import psycopg2  # type: ignore[import-untyped]  # optional: only with PostgreSQL

        errors.extend((psycopg2.OperationalError, psycopg2.InterfaceError))
    except ImportError:
        pass
    return tuple(errors)


class OutageLog:
    """One line when a background task first meets a storage outage, one when it works again.

    For the threads that use the storage on their own (retention, WAL checkpoints): a database that
    is down or a file that was deleted is an outage to report once, not a traceback every pass.
    """

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self._logger = logger
        self._what = what
        self._errors = storage_errors()
        self.down = False

    def failed(self, error: BaseException) -> None:
        """Report ``error``: once per outage if it is one, with its traceback if it is not."""
        if not isinstance(error, self._errors):
            self._logger.warning("%s failed, will retry", self._what, exc_info=error)
            return
        if not self.down:
            self.down = True
            cause = str(getattr(error, "orig", None) or error).strip().splitlines()
            self._logger.warning(
                "%s: the storage is unavailable (%s), will retry",
                self._what,
                cause[0] if cause else type(error).__name__,
            )

    def worked(self) -> None:
        """Report the end of an outage, if there was one."""
        if self.down:
            self.down = False
            self._logger.info("%s: the storage is available again", self._what)
