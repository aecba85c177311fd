"""Stock: availability, owner stock changes and reports.

Promises (``flask holdfast verify`` checks them against the rows):

- Every change of on-hand stock is one appended ``StockMovement``; ``Variant.on_hand`` always
  equals the sum of its movements, and never goes below zero (it counts units on the shelf).
- Availability of a variant = on hand − units claimed by live holds − units owed to back-orders,
  computed from the rows at the instant asked (there is no stored counter).
- An owner's adjustment never leaves fewer units on hand than live holds claim, unless forced:
  then the newest whole holds on the variant are released until the rest fit.
- A digital variant's stock is its pool of license keys (``services.stock.keys``): adjusting it
  by hand is refused, as on-hand stock would then no longer equal the keys available.

This module keeps availability, receiving and adjusting stock, and the stock reports. The hold
lifecycle (take, extend, release, commit) lives in :mod:`app.services.stock.holds`, owed
back-order units in :mod:`app.services.stock.backorders`; the rows they build on (the ledger,
claims, row locks, the stock errors) in :mod:`app.services.stock.ledger`. Callers import
each from where it lives.

Every service takes ``now`` (timezone-aware UTC) so tests move a clock instead of sleeping; when
it is not given, the clock is read *after* the locks are taken. Services commit unless given
``commit=False`` (the checkout pipeline composes them); on a refusal they roll back what they
began.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import clock
from app.models import (
    HoldState,
    MovementReason,
    Product,
    ProductKind,
    Reservation,
    StockMovement,
    Variant,
)
from app.services import audit, locks
from app.services.stock.holds import (
    move_rows,
)
from app.services.stock.ledger import (
    StockError,
    StockHeldError,
    UnknownVariant,
    claims_of,
    core,
    lock_stock_rows,
    lock_variants,
    record_movement,
    statements,
)
from app.services.transactions import owned_transaction, unit_of_work

# ---------------------------------------------------------------- availability


@dataclass(frozen=True)
class Availability:
    """``held``: units on hand claimed by live holds. ``owed``: units sold on back-order and
    not yet taken from stock (they get the next units that arrive)."""

    variant_id: int
    on_hand: int
    held: int
    allow_backorder: bool
    owed: int = 0

    @property
    def available(self) -> int:
        """Units a new hold may take without a back-order (never negative)."""
        return max(0, self.on_hand - self.held - self.owed)

    def can_take(self, quantity: int) -> bool:
        return self.allow_backorder or quantity <= self.available


def availability(
    session: Session, variant_ids: Iterable[int], now: datetime | None = None
) -> dict[int, Availability]:
    """Availability for many variants in one query; unknown ids are left out."""
    ids = sorted(set(variant_ids))
    if not ids:
        return {}
    params = {"now": clock.now(now), "ids": ids}
    rows = core(session).execute(statements().availability, params).all()
    return {
        vid: Availability(vid, on_hand, int(held), allow_backorder, int(owed))
        for vid, on_hand, allow_backorder, held, owed in rows
    }


def availability_of(session: Session, variant_id: int, now: datetime | None = None) -> Availability:
    return availability(session, [variant_id], now)[variant_id]


# ---------------------------------------------------------------- receiving stock


def lock_stock(session: Session, variant_ids: Iterable[int]) -> None:
    """Lock variants (in id order) without loading them: for a caller about to change holds
    on them, which must hold their locks first."""
    lock_stock_rows(session, variant_ids)


def _resolve_variant_id(session: Session, sku_or_id: str | int) -> int:
    if isinstance(sku_or_id, int):
        return sku_or_id
    vid = session.scalar(select(Variant.id).where(Variant.sku == sku_or_id))
    if vid is None:
        raise UnknownVariant(f"No variant with SKU {sku_or_id!r}.")
    return vid


@unit_of_work
def receive_stock(
    session: Session,
    variant_id: int,
    quantity: int,
    *,
    reference: str | None = None,
    actor: str = "system",
    now: datetime | None = None,
    commit: bool = True,
) -> StockMovement:
    """Add ``quantity`` units arriving from a supplier."""
    if quantity <= 0:
        raise StockError("Received quantity must be positive.")
    with owned_transaction(session, commit):
        variant = lock_variants(session, [variant_id]).get(variant_id)
        if variant is None:
            raise UnknownVariant(f"No variant with id {variant_id}.")
        movement = record_movement(
            session,
            variant,
            quantity,
            MovementReason.RECEIVE,
            reference=reference,
            actor=actor,
            now=now,
        )
    return movement


# ---------------------------------------------------------------- owner stock changes


@dataclass(frozen=True)
class Adjustment:
    movement_id: int
    variant_id: int
    sku: str
    delta: int
    on_hand: int
    released_holds: tuple[str, ...] = ()
    repeated: bool = False  # the same ``once`` key was seen: nothing was changed again


class DigitalStockError(StockError):
    """A digital variant's stock is its license keys: it changes only as keys are imported
    or handed out."""


ADJUSTABLE = frozenset(
    {
        MovementReason.ADJUST,
        MovementReason.CORRECTION,
        MovementReason.RETURN,
        MovementReason.RECEIVE,
    }
)


@unit_of_work
def adjust_stock(
    session: Session,
    sku_or_id: str | int,
    delta: int,
    *,
    reason: str,
    kind: MovementReason = MovementReason.ADJUST,
    reference: str | None = None,
    actor: str = "system",
    actor_id: int | None = None,
    force: bool = False,
    once: str | None = None,
    now: datetime | None = None,
    commit: bool = True,
) -> Adjustment:
    """Change on-hand stock by ``delta`` for ``reason`` (recorded on the movement and in the
    audit log). On hand never goes below zero. Removing units that shoppers' live holds claim
    is refused (:class:`StockHeldError`) unless ``force``: then the newest holds on the variant
    are released, whole, until the rest fit; their refs are returned. A digital variant is
    refused (:class:`DigitalStockError`): its stock is its keys.

    ``once``: a key drawn for one request (an admin form); it is the movement's reference, and
    a second adjustment of the variant with the same key changes nothing (a double click)."""
    _check_adjustment(delta, reason, kind)
    with owned_transaction(session, commit):
        variant = _lock_adjustable(session, sku_or_id)
        variant_id = variant.id
        if (done := _done_once(session, variant, once)) is not None:
            return done
        now = clock.now(now)
        before = variant.on_hand
        released = _make_room(session, variant, delta, force=force, now=now)
        note, reference = reason.strip(), once or reference
        movement = record_movement(
            session, variant, delta, kind, reference=reference, actor=actor, note=note, now=now
        )
        session.flush()
        audit.record(
            session,
            "stock.adjust",
            actor=actor,
            actor_id=actor_id,
            subject_type="variant",
            subject_id=variant_id,
            sku=variant.sku,
            delta=delta,
            kind=kind.value,
            reason=reason.strip(),
            on_hand_before=before,
            on_hand_after=variant.on_hand,
            released_holds=released,
        )
        result = Adjustment(
            movement.id, variant_id, variant.sku, delta, variant.on_hand, tuple(released)
        )
    return result


def _lock_adjustable(session: Session, sku_or_id: str | int) -> Variant:
    """The variant, locked; a digital one is refused (its stock is its keys)."""
    variant_id = _resolve_variant_id(session, sku_or_id)
    variant = lock_variants(session, [variant_id]).get(variant_id)
    if variant is None:
        raise UnknownVariant(f"No variant with id {variant_id}.")
    if variant.product.kind is ProductKind.DIGITAL:
        raise DigitalStockError(
            f"{variant.sku} is a digital product: its stock is its pool of license keys, so it "
            "cannot be adjusted by hand. Import keys to add stock (the admin's key upload, or "
            "`flask keys import`)."
        )
    return variant


def _done_once(session: Session, variant: Variant, once: str | None) -> Adjustment | None:
    """The adjustment already made with key ``once`` on this (locked) variant, if any."""
    if once is None:
        return None
    movement = session.scalar(
        select(StockMovement).where(
            StockMovement.variant_id == variant.id, StockMovement.reference == once
        )
    )
    if movement is None:
        return None
    return Adjustment(
        movement.id, variant.id, variant.sku, movement.delta, variant.on_hand, repeated=True
    )


def _check_adjustment(delta: int, reason: str, kind: MovementReason) -> None:
    """Refuse an adjustment that changes nothing, gives no reason, or is not an owner's kind."""
    if delta == 0:
        raise StockError("An adjustment must change the quantity.")
    if not reason.strip():
        raise StockError("Say why the stock changes (a reason is required).")
    if kind not in ADJUSTABLE:
        raise StockError(f"Stock cannot be adjusted as {kind.value!r}; sales come from holds.")


def _make_room(
    session: Session, variant: Variant, delta: int, *, force: bool, now: datetime
) -> list[str]:
    """Removing units that shoppers' live holds claim is refused (:class:`StockHeldError`)
    unless ``force``: then the newest holds on the (locked) variant are released, whole, until
    the rest fit. Returns the released holds' refs."""
    before = variant.on_hand
    held, _owed = claims_of(session, [variant.id], now).get(variant.id, (0, 0))
    if not 0 <= before + delta < held:
        return []
    if not force:
        raise StockHeldError(
            f"{variant.sku}: {held} of the {before} on hand are held by shoppers' "
            f"checkouts, so removing {-delta} would leave them short. Wait for the "
            "holds to end, or force it (the newest holds are released)."
        )
    return _release_newest_holds(session, variant.id, held - (before + delta), now)


def _release_newest_holds(
    session: Session, variant_id: int, units: int, now: datetime
) -> list[str]:
    """Release whole live holds on a variant, newest first, until ``units`` are freed. The
    caller holds the variant's lock, so the live holds cannot change under it; the chosen
    holds' rows are then locked together, in id order (``services.locks``)."""
    live = session.execute(
        select(Reservation.hold_ref, Reservation.quantity - Reservation.backorder_quantity)
        .where(
            Reservation.variant_id == variant_id,
            Reservation.state == HoldState.ACTIVE,
            Reservation.expires_at > now,
            Reservation.quantity > Reservation.backorder_quantity,
        )
        .order_by(Reservation.created_at.desc(), Reservation.id.desc())
    ).all()
    released: list[str] = []
    for hold_ref, stock_part in live:
        if units <= 0:
            break
        released.append(hold_ref)
        units -= stock_part
    if released:
        rows = locks.lock_reservations(session, Reservation.hold_ref.in_(released))
        by_hold: dict[str, list[Reservation]] = {}
        for row in rows:
            by_hold.setdefault(row.hold_ref, []).append(row)
        for hold_ref in released:
            move_rows(by_hold[hold_ref], HoldState.RELEASED, now)
    return released


# ---------------------------------------------------------------- reports


@dataclass(frozen=True)
class StockLevel:
    id: int
    sku: str
    product: str
    kind: str
    allow_backorder: bool
    on_hand: int
    held: int
    owed: int
    available: int


def stock_levels(
    session: Session, *, skus: Iterable[str] | None = None, now: datetime | None = None
) -> list[StockLevel]:
    """Every variant's stock as of ``now`` (or only ``skus``), by SKU."""
    claims = statements().all_claims
    stmt = (
        select(
            Variant.id,
            Variant.sku,
            Product.name,
            Product.kind,
            Variant.allow_backorder,
            Variant.on_hand,
            func.coalesce(claims.c.held, 0),
            func.coalesce(claims.c.owed, 0),
        )
        .join(Product, Product.id == Variant.product_id)
        .outerjoin(claims, claims.c.variant_id == Variant.id)
        .order_by(Variant.sku)
    )
    if skus is not None:
        stmt = stmt.where(Variant.sku.in_(list(skus)))
    levels = []
    rows = session.execute(stmt, {"now": clock.now(now)})
    for vid, sku, product, kind, backorder, on_hand, held, owed in rows:
        avail = Availability(vid, on_hand, int(held), backorder, int(owed))
        levels.append(
            StockLevel(
                vid,
                sku,
                product,
                kind.value,
                backorder,
                on_hand,
                avail.held,
                avail.owed,
                avail.available,
            )
        )
    return levels


@dataclass(frozen=True)
class StockDetail:
    level: StockLevel
    movements: list[StockMovement]
    live_holds: list[Reservation]


def stock_detail(
    session: Session, sku: str, *, movements: int = 10, now: datetime | None = None
) -> StockDetail:
    """One variant's stock, its latest ledger rows (newest first) and its live holds."""
    now = clock.now(now)
    levels = stock_levels(session, skus=[sku], now=now)
    if not levels:
        raise UnknownVariant(f"No variant with SKU {sku!r}.")
    level = levels[0]
    recent = session.scalars(
        select(StockMovement)
        .where(StockMovement.variant_id == level.id)
        .order_by(StockMovement.id.desc())
        .limit(movements)
    ).all()
    holds = session.scalars(
        select(Reservation)
        .where(
            Reservation.variant_id == level.id,
            Reservation.state == HoldState.ACTIVE,
            Reservation.expires_at > now,
        )
        .order_by(Reservation.expires_at)
    ).all()
    return StockDetail(level, list(recent), list(holds))
