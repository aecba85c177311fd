"""The invariants of DESIGN.md, checked against the rows. ``flask holdfast verify`` runs them.

Each check returns human-readable violations; an empty list means the invariant holds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import HoldState, Reservation, StockMovement, Variant


def ledger_matches_on_hand(session: Session, now: datetime) -> list[str]:
    ledger = (
        select(StockMovement.variant_id, func.sum(StockMovement.delta).label("total"))
        .group_by(StockMovement.variant_id)
        .subquery()
    )
    rows = session.execute(
        select(Variant.sku, Variant.on_hand, func.coalesce(ledger.c.total, 0))
        .outerjoin(ledger, ledger.c.variant_id == Variant.id)
        .where(Variant.on_hand != func.coalesce(ledger.c.total, 0))
    ).all()
    return [
        f"{sku}: on_hand is {on_hand} but the ledger sums to {total}"
        for sku, on_hand, total in rows
    ]


def on_hand_not_negative(session: Session, now: datetime) -> list[str]:
    rows = session.execute(
        select(Variant.sku, Variant.on_hand).where(
            Variant.on_hand < 0, Variant.allow_backorder.is_(False)
        )
    ).all()
    return [f"{sku}: on_hand is negative ({on_hand})" for sku, on_hand in rows]


def holds_within_stock(session: Session, now: datetime) -> list[str]:
    held = (
        select(Reservation.variant_id, func.sum(Reservation.quantity).label("held"))
        .where(Reservation.state == HoldState.ACTIVE, Reservation.expires_at > now)
        .group_by(Reservation.variant_id)
        .subquery()
    )
    rows = session.execute(
        select(Variant.sku, Variant.on_hand, held.c.held)
        .join(held, held.c.variant_id == Variant.id)
        .where(Variant.allow_backorder.is_(False), held.c.held > Variant.on_hand)
    ).all()
    return [f"{sku}: live holds total {h} but only {on_hand} on hand" for sku, on_hand, h in rows]


CHECKS: list[Callable[[Session, datetime], list[str]]] = [
    ledger_matches_on_hand,
    on_hand_not_negative,
    holds_within_stock,
]


def check_all(session: Session, now: datetime | None = None) -> list[str]:
    now = now or datetime.now(UTC)
    violations: list[str] = []
    for check in CHECKS:
        violations.extend(f"[{check.__name__}] {v}" for v in check(session, now))
    return violations
