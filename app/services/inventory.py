"""Stock: availability, holds and the ledger.

Availability of a variant = on hand − the quantities of its active holds whose deadline is still
in the future. It is always computed from the rows at the instant asked (``now``), so an
expired hold counts for nothing the moment it expires, whether or not the sweeper has run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import begin_write
from app.models import HoldState, MovementReason, Reservation, StockMovement, Variant

from .errors import DomainError


@dataclass(frozen=True)
class Availability:
    variant_id: int
    on_hand: int
    held: int
    allow_backorder: bool

    @property
    def available(self) -> int:
        """Units a new hold may take without a back-order (never negative)."""
        return max(0, self.on_hand - self.held)

    def can_take(self, quantity: int) -> bool:
        return self.allow_backorder or quantity <= self.available


def live_holds_subquery(now: datetime):
    """Per variant, the units held by active holds whose deadline is after ``now``."""
    return (
        select(
            Reservation.variant_id.label("variant_id"),
            func.sum(Reservation.quantity).label("held"),
        )
        .where(Reservation.state == HoldState.ACTIVE, Reservation.expires_at > now)
        .group_by(Reservation.variant_id)
        .subquery()
    )


def availability(
    session: Session, variant_ids: Iterable[int], now: datetime | None = None
) -> dict[int, Availability]:
    """Availability for many variants in one query; unknown ids are left out."""
    ids = sorted(set(variant_ids))
    if not ids:
        return {}
    now = now or datetime.now(UTC)
    held = live_holds_subquery(now)
    rows = session.execute(
        select(
            Variant.id,
            Variant.on_hand,
            Variant.allow_backorder,
            func.coalesce(held.c.held, 0),
        )
        .outerjoin(held, held.c.variant_id == Variant.id)
        .where(Variant.id.in_(ids))
    ).all()
    return {
        vid: Availability(vid, on_hand, int(held_qty), allow_backorder)
        for vid, on_hand, allow_backorder, held_qty in rows
    }


def availability_of(session: Session, variant_id: int, now: datetime | None = None) -> Availability:
    return availability(session, [variant_id], now)[variant_id]


class StockError(DomainError):
    """A stock change that cannot be made (unknown SKU, would go negative, ...)."""


def lock_variants(session: Session, variant_ids: Iterable[int]) -> dict[int, Variant]:
    """Lock variant rows in id order (Postgres ``FOR UPDATE``; on SQLite the transaction's
    BEGIN IMMEDIATE already serialises writers), so two transactions never deadlock."""
    ids = sorted(set(variant_ids))
    begin_write(session)
    rows = session.scalars(
        select(Variant).where(Variant.id.in_(ids)).order_by(Variant.id).with_for_update()
    ).all()
    return {v.id: v for v in rows}


def record_movement(
    session: Session,
    variant: Variant,
    delta: int,
    reason: MovementReason,
    *,
    reference: str | None = None,
    actor: str = "system",
    note: str = "",
) -> StockMovement:
    """Append a ledger row and move ``on_hand`` with it. The caller holds the variant's lock
    and owns the transaction."""
    if delta == 0:
        raise StockError("A stock movement must change the quantity.")
    if variant.on_hand + delta < 0 and reason is not MovementReason.SALE:
        raise StockError(f"{variant.sku} has {variant.on_hand} on hand; cannot remove {-delta}.")
    movement = StockMovement(
        variant_id=variant.id,
        delta=delta,
        reason=reason,
        reference=reference,
        actor=actor,
        note=note,
    )
    session.add(movement)
    variant.on_hand += delta
    return movement


def receive_stock(
    session: Session,
    variant_id: int,
    quantity: int,
    *,
    reference: str | None = None,
    actor: str = "system",
    commit: bool = True,
) -> StockMovement:
    """Add ``quantity`` units arriving from a supplier."""
    if quantity <= 0:
        raise StockError("Received quantity must be positive.")
    variant = lock_variants(session, [variant_id]).get(variant_id)
    if variant is None:
        raise StockError(f"No variant with id {variant_id}.")
    movement = record_movement(
        session, variant, quantity, MovementReason.RECEIVE, reference=reference, actor=actor
    )
    if commit:
        session.commit()
    return movement
