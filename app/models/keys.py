"""Digital goods: license keys, one row per key, assigned to at most one order line.

A digital variant's on-hand stock is its pool of available keys: importing keys records a
``receive`` movement per batch, and each key handed out leaves with the sale, so
``variants.on_hand`` equals the count of available keys (``flask holdfast verify`` checks it).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, str_enum, utcnow


class KeyState(enum.StrEnum):
    AVAILABLE = "available"
    ASSIGNED = "assigned"


class LicenseKey(Base):
    __tablename__ = "license_keys"
    __table_args__ = (Index("ix_license_keys_variant_state", "variant_id", "state", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    code: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[KeyState] = mapped_column(str_enum(KeyState), default=KeyState.AVAILABLE)
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id"), index=True)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(254), default="system")
    assigned_at: Mapped[datetime | None] = mapped_column(default=None)
