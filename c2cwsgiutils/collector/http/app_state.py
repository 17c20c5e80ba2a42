"""What the collector's views share: settings, storage, authenticator and the retention thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from c2cwsgiutils.collector.http.admission import Admission
from c2cwsgiutils.collector.http.auth import Authenticator
from c2cwsgiutils.collector.settings import CollectorSettings
from c2cwsgiutils.collector.storage.backends import Storage
from c2cwsgiutils.collector.storage.retention import RetentionThread

__all__ = ["CollectorState", "find_state", "get_state", "set_state"]

_KEY = "c2cwsgiutils.collector.http.app_state"


@dataclass
class CollectorState:
    """The collector of one Pyramid registry."""

    settings: CollectorSettings
    storage: Storage
    authenticator: Authenticator
    retention: RetentionThread | None = None
    admission: Admission = field(default_factory=lambda: Admission(4, 1))

    def close(self) -> None:
        """Stop the retention thread and close the database connections."""
        if self.retention is not None:
            self.retention.stop()
        self.storage.dispose()


def get_state(registry: Any) -> CollectorState:
    """The :class:`CollectorState` kept on a registry by ``includeme``."""
    return registry.__dict__[_KEY]  # type: ignore[no-any-return]


def find_state(registry: Any) -> CollectorState | None:
    """The :class:`CollectorState` of a registry, or ``None`` (a relay has none)."""
    return registry.__dict__.get(_KEY)  # type: ignore[no-any-return]


def set_state(registry: Any, state: CollectorState) -> None:
    """Keep ``state`` on ``registry``."""
    registry.__dict__[_KEY] = state
