"""Stock rows: the ledger, the claims on it, and the locks that order its writers.

The lower layer that :mod:`app.services.inventory` (availability, owner stock changes, reports)
and :mod:`app.services.holds` (the hold lifecycle) both build on. Callers use
``services.inventory``, which re-exports what they need from here.

Promises:

- Every change of on-hand stock is one appended ``StockMovement`` (:func:`record_movement`);
  ``Variant.on_hand`` moves with it, so it always equals the sum of its movements, and it never
  goes below zero.
- Claims on a variant are read from the reservation rows as of the instant asked, never from a
  stored counter: ``held`` (the stock parts of live holds, ``active`` with a deadline after
  ``now``) and ``owed`` (committed back-order units not yet taken from stock).
- A hold line is inserted only if its variant can give it, in one statement run after the
  variant row is locked (:func:`_insert_hold_line`), so live holds never claim more than is on
  hand.
- Variant rows are locked in id order (``FOR NO KEY UPDATE`` on Postgres, ``BEGIN IMMEDIATE``
  on SQLite), through :mod:`app.services.locks`, so two writers never deadlock.

Every stock service commits through ``transactions.owned_transaction``. ``now`` must be
timezone-aware UTC (``app.clock``) and is read after the locks when not given.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Row,
    bindparam,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from app import clock
from app.models import HoldState, MovementReason, Reservation, StockMovement, Variant
from app.services import locks
from app.services.errors import Conflict, DomainError, NotFound

# ---------------------------------------------------------------- errors


class StockError(DomainError):
    """A stock change that cannot be made (unknown SKU, would go negative, ...)."""


class UnknownVariant(StockError, NotFound):
    """A variant id or SKU that does not exist."""


@dataclass(frozen=True)
class Shortfall:
    """One variant a hold could not get: ``available`` units were left of ``requested``."""

    variant_id: int
    sku: str
    name: str
    requested: int
    available: int

    def describe(self) -> str:
        if self.available == 0:
            return f"{self.name} is sold out."
        return f"Only {self.available} of {self.name} left; you asked for {self.requested}."


class InsufficientStock(StockError, Conflict):
    """A hold refused because at least one variant has too little stock. ``shortfalls`` names
    each short variant and how many are left, so the checkout page can say so."""

    def __init__(self, shortfalls: Iterable[Shortfall]) -> None:
        self.shortfalls = tuple(shortfalls)
        super().__init__(" ".join(s.describe() for s in self.shortfalls))


class StockHeldError(StockError, Conflict):
    """An adjustment would leave fewer units on hand than shoppers' live holds claim."""


# ---------------------------------------------------------------- clock and transactions


# ---------------------------------------------------------------- claims


RESERVATION = Reservation.__table__.c
VARIANT = Variant.__table__.c


def _claims_subquery(by: str | None):
    """Per variant: ``held`` (stock parts of live holds) and ``owed`` (committed back-order
    units not yet allocated), read from the reservation rows as of the ``now`` parameter; only
    for the ``ids`` parameter (``by="ids"``) or the ``variant_id`` one (``by="variant_id"``)."""
    live = select(
        RESERVATION.variant_id.label("variant_id"),
        (RESERVATION.quantity - RESERVATION.backorder_quantity).label("held"),
        literal(0).label("owed"),
    ).where(RESERVATION.state == HoldState.ACTIVE, RESERVATION.expires_at > bindparam("now"))
    owed = select(RESERVATION.variant_id, literal(0), RESERVATION.backorder_quantity).where(
        RESERVATION.state == HoldState.COMMITTED, RESERVATION.backorder_quantity > 0
    )
    if by == "ids":
        live = live.where(RESERVATION.variant_id.in_(bindparam("ids", expanding=True)))
        owed = owed.where(RESERVATION.variant_id.in_(bindparam("ids", expanding=True)))
    elif by == "variant_id":
        live = live.where(RESERVATION.variant_id == bindparam("variant_id"))
        owed = owed.where(RESERVATION.variant_id == bindparam("variant_id"))
    rows = union_all(live, owed).subquery()
    return (
        select(
            rows.c.variant_id,
            func.sum(rows.c.held).label("held"),
            func.sum(rows.c.owed).label("owed"),
        )
        .group_by(rows.c.variant_id)
        .subquery("claims")
    )


@dataclass(frozen=True)
class _Statements:
    claims: Any
    availability: Any
    all_claims: Any
    lock: Any
    insert_hold_line: Any


@functools.cache
def statements() -> _Statements:
    """The hot statements, built once and in plain Core (building a statement costs more than
    running it here, and a hold's lock is held from its lock to its commit: every
    microsecond spent in Python in between is one every other buyer of that variant waits)."""
    claims = _claims_subquery(by="ids")
    return _Statements(
        claims=select(claims.c.variant_id, claims.c.held, claims.c.owed),
        availability=select(
            VARIANT.id,
            VARIANT.on_hand,
            VARIANT.allow_backorder,
            func.coalesce(claims.c.held, 0),
            func.coalesce(claims.c.owed, 0),
        )
        .select_from(Variant.__table__.outerjoin(claims, claims.c.variant_id == VARIANT.id))
        .where(VARIANT.id.in_(bindparam("ids", expanding=True))),
        all_claims=_claims_subquery(by=None),
        lock=select(VARIANT.id, VARIANT.sku, VARIANT.on_hand, VARIANT.allow_backorder)
        .where(VARIANT.id.in_(bindparam("ids", expanding=True)))
        .order_by(VARIANT.id)
        .with_for_update(key_share=True),
        insert_hold_line=_insert_hold_line(),
    )


def _insert_hold_line():
    """Insert one variant's share of a hold if the variant can give it, in one statement:
    ``INSERT … SELECT … WHERE allow_backorder OR free >= quantity RETURNING
    backorder_quantity``, where free = on hand − live holds − owed back-orders, read from the
    rows. Run only after the variant row is locked by an earlier statement: in READ COMMITTED
    each statement reads a fresh snapshot, so this one sees every hold committed before the
    lock was granted (a lock taken in the same statement would not)."""
    table = Reservation.__table__
    claims = _claims_subquery(by="variant_id")
    quantity = bindparam("quantity", type_=Integer)
    free = VARIANT.on_hand - func.coalesce(claims.c.held, 0) - func.coalesce(claims.c.owed, 0)
    backorder = case((free >= quantity, 0), (free <= 0, quantity), else_=quantity - free)
    source = (
        select(
            bindparam("hold_ref", type_=table.c.hold_ref.type),
            VARIANT.id,
            bindparam("checkout_id", type_=Integer),
            quantity,
            backorder,
            literal(HoldState.ACTIVE, type_=table.c.state.type),
            bindparam("created_at", type_=table.c.created_at.type),
            bindparam("expires_at", type_=table.c.expires_at.type),
            literal(0),
        )
        .select_from(Variant.__table__.outerjoin(claims, claims.c.variant_id == VARIANT.id))
        .where(
            VARIANT.id == bindparam("variant_id"), or_(VARIANT.allow_backorder, free >= quantity)
        )
    )
    columns = [
        "hold_ref",
        "variant_id",
        "checkout_id",
        "quantity",
        "backorder_quantity",
        "state",
        "created_at",
        "expires_at",
        "extensions",
    ]
    return insert(table).from_select(columns, source).returning(table.c.backorder_quantity)


def core(session: Session) -> Connection:
    """The session's connection for a Core statement, after flushing pending ORM changes
    (as ``session.execute`` would), so a composed transaction reads its own writes."""
    session.flush()
    return session.connection()


def claims_of(session: Session, variant_ids: Iterable[int], now: datetime) -> dict[int, tuple]:
    params = {"now": now, "ids": sorted(set(variant_ids))}
    rows = core(session).execute(statements().claims, params).all()
    return {vid: (int(held or 0), int(owed or 0)) for vid, held, owed in rows}


# ---------------------------------------------------------------- locks and the ledger


def lock_variants(session: Session, variant_ids: Iterable[int]) -> dict[int, Variant]:
    """Lock variant rows in id order (Postgres ``FOR NO KEY UPDATE``; on SQLite the
    transaction's BEGIN IMMEDIATE already serialises writers), so two transactions never
    deadlock (``services.locks``)."""
    return locks.lock_variants(session, variant_ids)


def lock_stock_rows(session: Session, variant_ids: Iterable[int]) -> dict[int, Row]:
    """Like :func:`lock_variants` but reads only the stock columns (the hot path of a hold)."""
    return locks.lock_variant_rows(session, statements().lock, variant_ids)


def record_movement(
    session: Session,
    variant: Variant,
    delta: int,
    reason: MovementReason,
    *,
    reference: str | None = None,
    actor: str = "system",
    note: str = "",
    now: datetime | None = None,
) -> StockMovement:
    """Append a ledger row and move ``on_hand`` with it; on hand never goes below zero. The
    caller holds the variant's lock and owns the transaction."""
    if delta == 0:
        raise StockError("A stock movement must change the quantity.")
    if variant.on_hand + delta < 0:
        raise StockError(f"{variant.sku} has {variant.on_hand} on hand; cannot remove {-delta}.")
    movement = StockMovement(
        variant_id=variant.id,
        delta=delta,
        reason=reason,
        reference=reference,
        actor=actor,
        note=note,
        created_at=clock.now(now),
    )
    session.add(movement)
    variant.on_hand += delta
    return movement
