"""Holds: stock reserved for a checkout, from taken to sold, released or expired.

Promises (``flask holdfast verify`` checks them against the rows):

- Live holds never claim more than is on hand. A hold is taken in one transaction that locks the
  variant rows (id order), computes the live claims from the reservation rows, checks and
  inserts: all of its lines or none.
- A hold is live while it is ``active`` and its deadline is after ``now``. That is computed from
  the rows at the instant asked, so an expired hold counts for nothing the moment it expires
  (and reads ``expired``), whether or not the sweeper has run.
- A hold changes state only through :data:`HOLD_TRANSITIONS`: ``active`` becomes ``committed``,
  ``released`` or ``expired``, and every other state is final. Its deadline never moves past
  ``created_at`` plus the longest allowed life.

Back-orders: on a variant that allows them, a hold may ask for more than is available; the
excess is its ``backorder_quantity`` and claims nothing on hand. Committing such a hold records a
SALE movement for the units taken from stock only; the rest stays on the committed reservation
as ``backorder_quantity`` (units sold and owed). Owed units come before new holds: availability
subtracts them, so stock that arrives goes to them first; ``stock.backorders`` moves them out of
stock as it arrives, or stops them being owed.

Every service takes ``now`` (timezone-aware UTC) so tests move a clock instead of sleeping; when
it is not given, the clock is read *after* the locks are taken, so a hold that expired while a
writer waited for its lock is seen as expired. Services commit unless given ``commit=False``
(the checkout pipeline composes them); on a refusal they roll back what they began.

``services.inventory`` re-exports this module's API; existing callers use it from there.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy import Row, delete, select
from sqlalchemy.orm import Session

from app import clock, metrics
from app.db import begin_write
from app.models import HoldState, MovementReason, Product, Reservation, Variant
from app.services import locks
from app.services.errors import Conflict, NotFound
from app.services.stock.ledger import (
    RESERVATION,
    InsufficientStock,
    Shortfall,
    StockError,
    UnknownVariant,
    claims_of,
    core,
    lock_stock_rows,
    lock_variants,
    record_movement,
    statements,
)
from app.services.transactions import owned_transaction, unit_of_work

DEFAULT_HOLD_TTL_MINUTES = 15
DEFAULT_HOLD_MAX_TTL_MINUTES = 60


# ---------------------------------------------------------------- errors


class HoldError(Conflict):
    """A hold that cannot be changed as asked."""


class HoldNotFound(HoldError, NotFound):
    status_code = 404


class HoldExpired(HoldError):
    """The hold's deadline has passed; its units are no longer reserved."""


class HoldNotActive(HoldError):
    """The hold was released or already turned into a sale."""

    def __init__(self, message: str, state: HoldState) -> None:
        super().__init__(message)
        self.state = state


class HoldLimitReached(HoldError):
    """The hold is already at its longest allowed life (``HOLD_MAX_TTL_MINUTES``)."""


# ---------------------------------------------------------------- holds


@dataclass(frozen=True)
class HoldLine:
    variant_id: int
    sku: str
    quantity: int
    backorder_quantity: int = 0


@dataclass(frozen=True)
class Hold:
    """A hold as of the instant it was read. ``state`` is the effective state: an active hold
    whose deadline has passed reads ``expired`` even before the sweeper marks it."""

    ref: str
    state: HoldState
    created_at: datetime
    expires_at: datetime
    extensions: int
    checkout_id: int | None
    lines: tuple[HoldLine, ...]

    @property
    def is_live(self) -> bool:
        return self.state is HoldState.ACTIVE

    def seconds_left(self, now: datetime | None = None) -> int:
        if not self.is_live:
            return 0
        return max(0, int((self.expires_at - clock.now(now)).total_seconds()))


def sum_lines(lines: Mapping[int, int] | Iterable[tuple[int, int]]) -> dict[int, int]:
    pairs = lines.items() if isinstance(lines, Mapping) else lines
    wanted: dict[int, int] = {}
    for variant_id, quantity in pairs:
        if quantity <= 0:
            raise StockError("Each quantity to hold must be at least 1.")
        wanted[variant_id] = wanted.get(variant_id, 0) + quantity
    if not wanted:
        raise StockError("There is nothing to hold.")
    return wanted


def _names(session: Session, variant_ids: Iterable[int]) -> dict[int, str]:
    rows = session.execute(
        select(Variant.id, Variant.name, Product.name)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.id.in_(sorted(set(variant_ids))))
    ).all()
    return {vid: f"{product} — {name}" if name else product for vid, name, product in rows}


@unit_of_work
def take_hold(
    session: Session,
    lines: Mapping[int, int] | Iterable[tuple[int, int]],
    *,
    ttl_minutes: float = DEFAULT_HOLD_TTL_MINUTES,
    checkout_id: int | None = None,
    now: datetime | None = None,
    commit: bool = True,
) -> Hold:
    """Hold stock for cart lines ``(variant_id, quantity)``: all of them or none.

    Quantities are summed per variant first, so two lines of one variant are checked together.
    Raises :class:`InsufficientStock` naming every short variant, or :class:`UnknownVariant`.
    """
    wanted = sum_lines(lines)
    ref = secrets.token_hex(16)
    with owned_transaction(session, commit):
        stock = lock_stock_rows(session, wanted)
        missing = sorted(set(wanted) - set(stock))
        if missing:
            raise UnknownVariant(f"No variant with id {missing[0]}; it may have been removed.")
        now = clock.now(now)
        expires_at = now + timedelta(minutes=ttl_minutes)
        conn, insert_line = core(session), statements().insert_hold_line
        backorders: dict[int, int] = {}
        for vid, quantity in sorted(wanted.items()):
            params = {
                "hold_ref": ref,
                "variant_id": vid,
                "checkout_id": checkout_id,
                "quantity": quantity,
                "created_at": now,
                "expires_at": expires_at,
                "now": now,
            }
            inserted = conn.execute(insert_line, params).first()
            if inserted is None:
                _refuse_hold(session, ref, wanted, stock, now, partial=bool(backorders))
            backorders[vid] = inserted[0]
        metrics.hold_taken(session)  # counted when it commits
    return Hold(
        ref=ref,
        state=HoldState.ACTIVE,
        created_at=now,
        expires_at=expires_at,
        extensions=0,
        checkout_id=checkout_id,
        lines=tuple(
            HoldLine(vid, stock[vid].sku, quantity, backorders[vid])
            for vid, quantity in sorted(wanted.items())
        ),
    )


def _refuse_hold(
    session: Session,
    ref: str,
    wanted: dict[int, int],
    stock: dict[int, Row],
    now: datetime,
    *,
    partial: bool,
) -> NoReturn:
    """Undo a hold's lines inserted so far (the caller may own the transaction) and raise
    :class:`InsufficientStock` naming every short variant."""
    if partial:
        core(session).execute(delete(Reservation.__table__).where(RESERVATION.hold_ref == ref))
    claims = claims_of(session, wanted, now)
    short = []
    for vid, quantity in sorted(wanted.items()):
        held, owed = claims.get(vid, (0, 0))
        free = max(0, stock[vid].on_hand - held - owed)
        if quantity > free and not stock[vid].allow_backorder:
            short.append((vid, quantity, free))
    names = _names(session, [vid for vid, _, _ in short])
    metrics.hold_refused("insufficient_stock")
    raise InsufficientStock(
        Shortfall(vid, stock[vid].sku, names.get(vid, stock[vid].sku), qty, free)
        for vid, qty, free in short
    )


def effective_state(row: Reservation, now: datetime) -> HoldState:
    if row.state is HoldState.ACTIVE and row.expires_at <= now:
        return HoldState.EXPIRED
    return row.state


# One transition table: the only moves a hold may make. Every other state is final.
HOLD_TRANSITIONS: dict[HoldState, frozenset[HoldState]] = {
    HoldState.ACTIVE: frozenset({HoldState.COMMITTED, HoldState.RELEASED, HoldState.EXPIRED}),
    HoldState.COMMITTED: frozenset(),
    HoldState.RELEASED: frozenset(),
    HoldState.EXPIRED: frozenset(),
}


def move_rows(rows: list[Reservation], to: HoldState, at: datetime) -> None:
    """Move every row of a hold to ``to``, stamping the state's time; refuse illegal moves."""
    for row in rows:
        if to not in HOLD_TRANSITIONS[row.state]:
            raise HoldNotActive(f"A {row.state.value} hold cannot become {to.value}.", row.state)
        row.state = to
        if to is HoldState.COMMITTED:
            row.committed_at = at
        elif to is HoldState.RELEASED:
            row.released_at = at
        else:  # expired: it stopped counting at its deadline, whenever it is marked
            row.expired_at = row.expires_at


def _hold_rows(session: Session, hold_ref: str, *, lock: bool) -> list[Reservation]:
    """A hold's rows by variant id; ``lock`` locks them (their variants must be locked
    first: the one lock order is variants, then hold rows)."""
    if lock:
        rows = locks.lock_reservations(session, Reservation.hold_ref == hold_ref)
        rows.sort(key=lambda r: r.variant_id)
    else:
        rows = list(
            session.scalars(
                select(Reservation)
                .where(Reservation.hold_ref == hold_ref)
                .order_by(Reservation.variant_id)
                .execution_options(populate_existing=True)
            )
        )
    if not rows:
        raise HoldNotFound("That hold does not exist.")
    return rows


def _as_hold(session: Session, rows: list[Reservation], now: datetime) -> Hold:
    skus = dict(
        session.execute(
            select(Variant.id, Variant.sku).where(Variant.id.in_([r.variant_id for r in rows]))
        ).all()
    )
    first = rows[0]
    return Hold(
        ref=first.hold_ref,
        state=effective_state(first, now),
        created_at=first.created_at,
        expires_at=first.expires_at,
        extensions=first.extensions,
        checkout_id=first.checkout_id,
        lines=tuple(
            HoldLine(r.variant_id, skus[r.variant_id], r.quantity, r.backorder_quantity)
            for r in rows
        ),
    )


def _refuse_unless_live(rows: list[Reservation], now: datetime) -> None:
    state = effective_state(rows[0], now)
    if state is HoldState.EXPIRED:
        raise HoldExpired("Your reserved items were released because time ran out.")
    if state is HoldState.RELEASED:
        raise HoldNotActive("That hold was released.", state)
    if state is HoldState.COMMITTED:
        raise HoldNotActive("That hold has already been turned into an order.", state)


def lock_hold(session: Session, hold_ref: str) -> tuple[list[Reservation], dict[int, Variant]]:
    """Lock a hold's variants, then its rows (the one lock order: variants by id, then hold
    rows), so a hold's claim and its variants' stock move together, a hold being taken on the
    same variant waits, and an owner's forced adjustment (variant, then holds) never meets a
    release going the other way."""
    begin_write(session)
    vids = session.scalars(
        select(Reservation.variant_id).where(Reservation.hold_ref == hold_ref)
    ).all()
    locked = lock_variants(session, vids)
    return _hold_rows(session, hold_ref, lock=True), locked


def get_hold(session: Session, hold_ref: str, *, now: datetime | None = None) -> Hold:
    """Read a hold (no lock). Raises :class:`HoldNotFound`."""
    return _as_hold(session, _hold_rows(session, hold_ref, lock=False), clock.now(now))


@unit_of_work
def extend_hold(
    session: Session,
    hold_ref: str,
    *,
    minutes: float = DEFAULT_HOLD_TTL_MINUTES,
    max_ttl_minutes: float = DEFAULT_HOLD_MAX_TTL_MINUTES,
    now: datetime | None = None,
    commit: bool = True,
) -> Hold:
    """Move a live hold's deadline to ``now + minutes``, never past ``created_at +
    max_ttl_minutes`` and never earlier than it is. Raises :class:`HoldExpired`,
    :class:`HoldNotActive` or, at the cap, :class:`HoldLimitReached`."""
    with owned_transaction(session, commit):
        rows, _ = lock_hold(session, hold_ref)
        now = clock.now(now)
        _refuse_unless_live(rows, now)
        first = rows[0]
        cap = first.created_at + timedelta(minutes=max_ttl_minutes)
        if first.expires_at >= cap:
            raise HoldLimitReached(
                f"Items can be reserved for at most {max_ttl_minutes:g} minutes; "
                "please complete your order now."
            )
        new_deadline = max(first.expires_at, min(now + timedelta(minutes=minutes), cap))
        if new_deadline > first.expires_at:
            for row in rows:
                row.expires_at = new_deadline
                row.extensions += 1
        hold = _as_hold(session, rows, now)
    return hold


@unit_of_work
def release_hold(
    session: Session, hold_ref: str, *, now: datetime | None = None, commit: bool = True
) -> Hold:
    """Give a hold's units back. Safe to repeat: a released or expired hold is left as it is
    (an expired one not yet swept is marked expired, not released). Raises
    :class:`HoldNotActive` for a hold already turned into a sale."""
    with owned_transaction(session, commit):
        rows, _ = lock_hold(session, hold_ref)
        now = clock.now(now)
        state = effective_state(rows[0], now)
        if state is HoldState.COMMITTED:
            raise HoldNotActive("That hold has already been turned into an order.", state)
        if rows[0].state is HoldState.ACTIVE:
            move_rows(rows, state if state is HoldState.EXPIRED else HoldState.RELEASED, now)
        hold = _as_hold(session, rows, now)
    return hold


@unit_of_work
def commit_hold(
    session: Session,
    hold_ref: str,
    *,
    actor: str = "system",
    note: str = "",
    now: datetime | None = None,
    commit: bool = True,
) -> Hold:
    """Turn a live hold into a sale: one SALE movement (reference ``hold:<ref>``) per variant
    for the units taken from stock; units beyond stock stay owed as ``backorder_quantity``
    (first covered from any stock that has become free since the hold was taken).

    Safe to repeat: committing a committed hold returns it unchanged. Raises
    :class:`HoldExpired` if its deadline has passed, :class:`HoldNotActive` if released.
    """
    with owned_transaction(session, commit):
        rows, variants = lock_hold(session, hold_ref)
        now = clock.now(now)
        if rows[0].state is HoldState.COMMITTED:
            return _as_hold(session, rows, now)
        _refuse_unless_live(rows, now)
        claims = claims_of(session, variants, now)
        for row in rows:
            variant = variants[row.variant_id]
            if row.backorder_quantity:
                held, owed = claims.get(row.variant_id, (0, 0))
                cover = min(row.backorder_quantity, max(0, variant.on_hand - held - owed))
                row.backorder_quantity -= cover
            from_stock = row.quantity - row.backorder_quantity
            if from_stock:
                record_movement(
                    session,
                    variant,
                    -from_stock,
                    MovementReason.SALE,
                    reference=f"hold:{hold_ref}",
                    actor=actor,
                    note=note,
                    now=now,
                )
        move_rows(rows, HoldState.COMMITTED, now)
        hold = _as_hold(session, rows, now)
    return hold
