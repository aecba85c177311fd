"""Owed back-order units: the part of a committed hold that was sold beyond stock.

A hold committed on a back-orderable variant keeps the units it could not take from stock as
``backorder_quantity`` on its committed reservation rows (``stock.holds``). Availability
subtracts them, so stock that arrives goes to them first: :func:`allocate_backorders` moves them
out of stock as it arrives, oldest sale first (a SALE movement each), and :func:`cancel_owed`
stops them being owed when their order is cancelled.

Like the hold services, each takes ``now`` and commits unless given ``commit=False``.
``services.inventory`` re-exports this module's API; callers use it from there.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app import clock
from app.models import HoldState, MovementReason, Reservation
from app.services import locks
from app.services.stock.holds import lock_hold
from app.services.stock.ledger import (
    UnknownVariant,
    claims_of,
    lock_variants,
    record_movement,
)
from app.services.transactions import owned_transaction, unit_of_work


@dataclass(frozen=True)
class BackorderAllocation:
    hold_ref: str
    variant_id: int
    quantity: int


@unit_of_work
def allocate_backorders(
    session: Session,
    variant_id: int,
    *,
    only_holds: Collection[str] | None = None,
    actor: str = "system",
    now: datetime | None = None,
    commit: bool = True,
) -> list[BackorderAllocation]:
    """Take owed back-order units out of stock, oldest sale first, as far as the stock that no
    live hold claims allows (a SALE movement each). Safe to repeat.

    ``only_holds``: allocate only to these holds (the caller holds their orders' locks); the
    allocation stops at the first owed hold not among them, so the oldest still come first."""
    with owned_transaction(session, commit):
        variant = lock_variants(session, [variant_id]).get(variant_id)
        if variant is None:
            raise UnknownVariant(f"No variant with id {variant_id}.")
        now = clock.now(now)
        held, _owed = claims_of(session, [variant_id], now).get(variant_id, (0, 0))
        free = variant.on_hand - held
        owed_rows = locks.lock_reservations(
            session,
            (Reservation.variant_id == variant_id)
            & (Reservation.state == HoldState.COMMITTED)
            & (Reservation.backorder_quantity > 0),
            order_by=(Reservation.committed_at, Reservation.id),
        )
        done: list[BackorderAllocation] = []
        for row in owed_rows:
            take = min(row.backorder_quantity, free)
            if take <= 0 or (only_holds is not None and row.hold_ref not in only_holds):
                break
            record_movement(
                session,
                variant,
                -take,
                MovementReason.SALE,
                reference=f"hold:{row.hold_ref}",
                actor=actor,
                note="back-order allocated",
                now=now,
            )
            row.backorder_quantity -= take
            free -= take
            done.append(BackorderAllocation(row.hold_ref, variant_id, take))
    return done


@unit_of_work
def cancel_owed(
    session: Session, hold_ref: str, *, now: datetime | None = None, commit: bool = True
) -> int:
    """A cancelled order no longer waits: its hold's owed back-order units stop being owed
    (the sold quantity shrinks by as much; nothing left stock, so no movement). Returns the
    number of units released."""
    with owned_transaction(session, commit):
        rows, _ = lock_hold(session, hold_ref)
        released = 0
        for row in rows:
            if row.state is HoldState.COMMITTED and row.backorder_quantity:
                released += row.backorder_quantity
                row.quantity -= row.backorder_quantity
                row.backorder_quantity = 0
    return released
