"""The demo's SQLAlchemy 2 model."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAME_MAX_LENGTH = 200


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of the demo's tables."""


class Item(Base):
    """Something with a name; the API lists and creates them."""

    __tablename__ = "item"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utc_now)

    def to_json(self) -> dict[str, Any]:
        """The item as the API returns it (``created`` in ISO 8601, UTC)."""
        created = self.created if self.created.tzinfo else self.created.replace(tzinfo=timezone.utc)
        return {"id": self.id, "name": self.name, "created": created.isoformat()}
