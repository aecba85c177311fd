"""Stock: the append-only ledger of on-hand changes, and time-limited holds.

Invariants (checked by ``flask holdfast verify``):
- ``variants.on_hand == sum(stock_movements.delta)`` for every variant;
- for a variant without back-orders, the active holds whose deadline is still in the future
  never add up to more than ``on_hand``. An expired hold counts for nothing from the instant
  its deadline passes, whether or not the sweeper has marked it yet.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, str_enum, utcnow
from .catalog import Variant


class MovementReason(enum.StrEnum):
    RECEIVE = "receive"
    SALE = "sale"
    RETURN = "return"
    ADJUST = "adjust"
    CORRECTION = "correction"


class StockMovement(Base):
    """One change of on-hand stock. Rows are only ever inserted."""

    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"), index=True)
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[MovementReason] = mapped_column(str_enum(MovementReason))
    reference: Mapped[str | None] = mapped_column(String(120))
    actor: Mapped[str] = mapped_column(String(254), default="system")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    variant: Mapped[Variant] = relationship()


class HoldState(enum.StrEnum):
    """active: counts against stock until expires_at. committed: turned into a sale.
    released: given back before its deadline. expired: its deadline passed (marked by the
    sweeper; it stopped counting at expires_at either way)."""

    ACTIVE = "active"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"


OWED_WHERE = "state = 'committed' AND backorder_quantity > 0"


class Reservation(Base):
    """One variant's share of a hold. All rows of a hold share ``hold_ref`` and move together.

    ``quantity - backorder_quantity`` units are claimed from stock on hand (the stock part);
    ``backorder_quantity`` units were beyond stock when held (only on variants that allow
    back-orders). Once committed, ``backorder_quantity`` is the units sold but still owed: they
    leave on-hand stock (a SALE movement) when stock arrives and they are allocated, and the
    column drops to 0 as they are.
    """

    __tablename__ = "reservations"
    __table_args__ = (
        # 0 only for a committed hold whose owed back-order units were cancelled.
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint("backorder_quantity >= 0", name="backorder_not_negative"),
        Index("ix_reservations_variant_state_expires", "variant_id", "state", "expires_at"),
        Index("ix_reservations_state_expires", "state", "expires_at"),
        # Units sold on back-order and still owed (committed, backorder_quantity > 0): a small
        # partial index, so availability finds them without scanning every past sale, and the
        # planner never picks it for live holds (those use ix_reservations_variant_state_expires).
        Index(
            "ix_reservations_owed",
            "variant_id",
            postgresql_where=text(OWED_WHERE),
            sqlite_where=text(OWED_WHERE),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hold_ref: Mapped[str] = mapped_column(String(40), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    checkout_id: Mapped[int | None] = mapped_column(Integer, index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    backorder_quantity: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[HoldState] = mapped_column(str_enum(HoldState), default=HoldState.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    committed_at: Mapped[datetime | None] = mapped_column(default=None)
    released_at: Mapped[datetime | None] = mapped_column(default=None)
    expired_at: Mapped[datetime | None] = mapped_column(default=None)

    variant: Mapped[Variant] = relationship()


class SweepRun(Base):
    """When the hold sweeper last ran and what it did."""

    __tablename__ = "sweep_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    expired_count: Mapped[int] = mapped_column(Integer, default=0)
    batches: Mapped[int] = mapped_column(Integer, default=0)
    trigger: Mapped[str] = mapped_column(String(32), default="cli")
