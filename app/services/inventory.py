"""Stock: availability, holds and the ledger.

Promises (``flask holdfast verify`` checks them against the rows):

- Every change of on-hand stock is one appended ``StockMovement``; ``Variant.on_hand`` always
  equals the sum of its movements, and never goes below zero (it counts units on the shelf).
- Availability of a variant = on hand − units claimed by live holds − units owed to back-orders.
  A hold is live while it is ``active`` and its deadline is after ``now``; it is computed from
  the rows at the instant asked, so an expired hold counts for nothing the moment it expires,
  whether or not the sweeper has run.
- Live holds never claim more than is on hand. A hold is taken in one transaction that locks the
  variant rows (id order; ``FOR UPDATE`` on Postgres, ``BEGIN IMMEDIATE`` on SQLite), computes
  the live claims from the reservation rows, checks and inserts. There is no stored counter.

Back-orders: on a variant that allows them, a hold may ask for more than is available; the
excess is its ``backorder_quantity`` and claims nothing on hand. Committing such a hold records a
SALE movement for the units taken from stock only; the rest stays on the committed reservation
as ``backorder_quantity`` (units sold and owed). Owed units come before new holds: availability
subtracts them, so stock that arrives goes to them first, and :func:`allocate_backorders` moves
them out of stock (a SALE movement) as it arrives.

Every service takes ``now`` (timezone-aware UTC) so tests move a clock instead of sleeping; when
it is not given, the clock is read *after* the locks are taken, so a hold that expired while a
writer waited for its lock is seen as expired. Services commit unless given ``commit=False``
(the checkout pipeline composes them); on a refusal they roll back what they began.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import (
    Connection,
    Integer,
    Row,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from app.db import begin_write
from app.models import (
    HoldState,
    MovementReason,
    Product,
    Reservation,
    StockMovement,
    Variant,
)

from . import audit
from .errors import Conflict, DomainError, NotFound

DEFAULT_HOLD_TTL_MINUTES = 15
DEFAULT_HOLD_MAX_TTL_MINUTES = 60

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


# ---------------------------------------------------------------- clock and transactions


def _clock(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return now


@contextmanager
def _unit(session: Session, commit: bool) -> Iterator[None]:
    """Commit on success when the service owns the transaction; roll back on any error so a
    refusal releases its locks (on SQLite, the database's write lock)."""
    try:
        yield
        if commit:
            session.commit()
    except BaseException:
        if commit:
            session.rollback()
        raise


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


_R = Reservation.__table__.c
_V = Variant.__table__.c


def _claims_subquery(by: str | None):
    """Per variant: ``held`` (stock parts of live holds) and ``owed`` (committed back-order
    units not yet allocated), read from the reservation rows as of the ``now`` parameter; only
    for the ``ids`` parameter (``by="ids"``) or the ``variant_id`` one (``by="variant_id"``)."""
    live = select(
        _R.variant_id.label("variant_id"),
        (_R.quantity - _R.backorder_quantity).label("held"),
        literal(0).label("owed"),
    ).where(_R.state == HoldState.ACTIVE, _R.expires_at > bindparam("now"))
    owed = select(_R.variant_id, literal(0), _R.backorder_quantity).where(
        _R.state == HoldState.COMMITTED, _R.backorder_quantity > 0
    )
    if by == "ids":
        live = live.where(_R.variant_id.in_(bindparam("ids", expanding=True)))
        owed = owed.where(_R.variant_id.in_(bindparam("ids", expanding=True)))
    elif by == "variant_id":
        live = live.where(_R.variant_id == bindparam("variant_id"))
        owed = owed.where(_R.variant_id == bindparam("variant_id"))
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
def _statements() -> _Statements:
    """The hot statements, built once and in plain Core (building a statement costs more than
    running it here, and a hold's lock is held from its lock to its commit: every
    microsecond spent in Python in between is one every other buyer of that variant waits)."""
    claims = _claims_subquery(by="ids")
    return _Statements(
        claims=select(claims.c.variant_id, claims.c.held, claims.c.owed),
        availability=select(
            _V.id,
            _V.on_hand,
            _V.allow_backorder,
            func.coalesce(claims.c.held, 0),
            func.coalesce(claims.c.owed, 0),
        )
        .select_from(Variant.__table__.outerjoin(claims, claims.c.variant_id == _V.id))
        .where(_V.id.in_(bindparam("ids", expanding=True))),
        all_claims=_claims_subquery(by=None),
        lock=select(_V.id, _V.sku, _V.on_hand, _V.allow_backorder)
        .where(_V.id.in_(bindparam("ids", expanding=True)))
        .order_by(_V.id)
        .with_for_update(),
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
    free = _V.on_hand - func.coalesce(claims.c.held, 0) - func.coalesce(claims.c.owed, 0)
    backorder = case((free >= quantity, 0), (free <= 0, quantity), else_=quantity - free)
    source = (
        select(
            bindparam("hold_ref", type_=table.c.hold_ref.type),
            _V.id,
            bindparam("checkout_id", type_=Integer),
            quantity,
            backorder,
            literal(HoldState.ACTIVE, type_=table.c.state.type),
            bindparam("created_at", type_=table.c.created_at.type),
            bindparam("expires_at", type_=table.c.expires_at.type),
            literal(0),
        )
        .select_from(Variant.__table__.outerjoin(claims, claims.c.variant_id == _V.id))
        .where(_V.id == bindparam("variant_id"), or_(_V.allow_backorder, free >= quantity))
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


def _core(session: Session) -> Connection:
    """The session's connection for a Core statement, after flushing pending ORM changes
    (as ``session.execute`` would), so a composed transaction reads its own writes."""
    session.flush()
    return session.connection()


def _claims(session: Session, variant_ids: Iterable[int], now: datetime) -> dict[int, tuple]:
    params = {"now": now, "ids": sorted(set(variant_ids))}
    rows = _core(session).execute(_statements().claims, params).all()
    return {vid: (int(held or 0), int(owed or 0)) for vid, held, owed in rows}


def availability(
    session: Session, variant_ids: Iterable[int], now: datetime | None = None
) -> dict[int, Availability]:
    """Availability for many variants in one query; unknown ids are left out."""
    ids = sorted(set(variant_ids))
    if not ids:
        return {}
    params = {"now": _clock(now), "ids": ids}
    rows = _core(session).execute(_statements().availability, params).all()
    return {
        vid: Availability(vid, on_hand, int(held), allow_backorder, int(owed))
        for vid, on_hand, allow_backorder, held, owed in rows
    }


def availability_of(session: Session, variant_id: int, now: datetime | None = None) -> Availability:
    return availability(session, [variant_id], now)[variant_id]


# ---------------------------------------------------------------- locks and the ledger


def lock_variants(session: Session, variant_ids: Iterable[int]) -> dict[int, Variant]:
    """Lock variant rows in id order (Postgres ``FOR UPDATE``; on SQLite the transaction's
    BEGIN IMMEDIATE already serialises writers), so two transactions never deadlock."""
    ids = sorted(set(variant_ids))
    begin_write(session)
    rows = session.scalars(
        select(Variant)
        .where(Variant.id.in_(ids))
        .order_by(Variant.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {v.id: v for v in rows}


def _lock_stock_rows(session: Session, variant_ids: Iterable[int]) -> dict[int, Row]:
    """Like :func:`lock_variants` but reads only the stock columns (the hot path of a hold)."""
    ids = sorted(set(variant_ids))
    begin_write(session)
    rows = _core(session).execute(_statements().lock, {"ids": ids}).all()
    return {row.id: row for row in rows}


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
        created_at=_clock(now),
    )
    session.add(movement)
    variant.on_hand += delta
    return movement


def _resolve_variant_id(session: Session, sku_or_id: str | int) -> int:
    if isinstance(sku_or_id, int):
        return sku_or_id
    vid = session.scalar(select(Variant.id).where(Variant.sku == sku_or_id))
    if vid is None:
        raise UnknownVariant(f"No variant with SKU {sku_or_id!r}.")
    return vid


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
    with _unit(session, commit):
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
        return max(0, int((self.expires_at - _clock(now)).total_seconds()))


def _sum_lines(lines: Mapping[int, int] | Iterable[tuple[int, int]]) -> dict[int, int]:
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
    wanted = _sum_lines(lines)
    ref = secrets.token_hex(16)
    with _unit(session, commit):
        stock = _lock_stock_rows(session, wanted)
        missing = sorted(set(wanted) - set(stock))
        if missing:
            raise UnknownVariant(f"No variant with id {missing[0]}; it may have been removed.")
        now = _clock(now)
        expires_at = now + timedelta(minutes=ttl_minutes)
        conn, insert_line = _core(session), _statements().insert_hold_line
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
        _core(session).execute(delete(Reservation.__table__).where(_R.hold_ref == ref))
    claims = _claims(session, wanted, now)
    short = []
    for vid, quantity in sorted(wanted.items()):
        held, owed = claims.get(vid, (0, 0))
        free = max(0, stock[vid].on_hand - held - owed)
        if quantity > free and not stock[vid].allow_backorder:
            short.append((vid, quantity, free))
    names = _names(session, [vid for vid, _, _ in short])
    raise InsufficientStock(
        Shortfall(vid, stock[vid].sku, names.get(vid, stock[vid].sku), qty, free)
        for vid, qty, free in short
    )


def _effective_state(row: Reservation, now: datetime) -> HoldState:
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


def _move(rows: list[Reservation], to: HoldState, at: datetime) -> None:
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
    stmt = (
        select(Reservation)
        .where(Reservation.hold_ref == hold_ref)
        .order_by(Reservation.variant_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update()
    rows = list(session.scalars(stmt))
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
        state=_effective_state(first, now),
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
    state = _effective_state(rows[0], now)
    if state is HoldState.EXPIRED:
        raise HoldExpired("Your reserved items were released because time ran out.")
    if state is HoldState.RELEASED:
        raise HoldNotActive("That hold was released.", state)
    if state is HoldState.COMMITTED:
        raise HoldNotActive("That hold has already been turned into an order.", state)


def _lock_hold(
    session: Session, hold_ref: str, *, variants: bool
) -> tuple[list[Reservation], dict[int, Variant]]:
    """Lock a hold's rows; with ``variants``, lock its variants first (the one lock order:
    variants by id, then reservation rows), so a hold's claim and its variants' stock move
    together and a hold being taken on the same variant waits."""
    begin_write(session)
    locked: dict[int, Variant] = {}
    if variants:
        vids = session.scalars(
            select(Reservation.variant_id).where(Reservation.hold_ref == hold_ref)
        ).all()
        locked = lock_variants(session, vids)
    return _hold_rows(session, hold_ref, lock=True), locked


def get_hold(session: Session, hold_ref: str, *, now: datetime | None = None) -> Hold:
    """Read a hold (no lock). Raises :class:`HoldNotFound`."""
    return _as_hold(session, _hold_rows(session, hold_ref, lock=False), _clock(now))


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
    with _unit(session, commit):
        rows, _ = _lock_hold(session, hold_ref, variants=True)
        now = _clock(now)
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


def release_hold(
    session: Session, hold_ref: str, *, now: datetime | None = None, commit: bool = True
) -> Hold:
    """Give a hold's units back. Safe to repeat: a released or expired hold is left as it is
    (an expired one not yet swept is marked expired, not released). Raises
    :class:`HoldNotActive` for a hold already turned into a sale."""
    with _unit(session, commit):
        rows, _ = _lock_hold(session, hold_ref, variants=False)
        now = _clock(now)
        state = _effective_state(rows[0], now)
        if state is HoldState.COMMITTED:
            raise HoldNotActive("That hold has already been turned into an order.", state)
        if rows[0].state is HoldState.ACTIVE:
            _move(rows, state if state is HoldState.EXPIRED else HoldState.RELEASED, now)
        hold = _as_hold(session, rows, now)
    return hold


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
    with _unit(session, commit):
        rows, variants = _lock_hold(session, hold_ref, variants=True)
        now = _clock(now)
        if rows[0].state is HoldState.COMMITTED:
            return _as_hold(session, rows, now)
        _refuse_unless_live(rows, now)
        claims = _claims(session, variants, now)
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
        _move(rows, HoldState.COMMITTED, now)
        hold = _as_hold(session, rows, now)
    return hold


# ---------------------------------------------------------------- owner stock changes


@dataclass(frozen=True)
class Adjustment:
    movement_id: int
    variant_id: int
    sku: str
    delta: int
    on_hand: int
    released_holds: tuple[str, ...] = ()


ADJUSTABLE = frozenset(
    {
        MovementReason.ADJUST,
        MovementReason.CORRECTION,
        MovementReason.RETURN,
        MovementReason.RECEIVE,
    }
)


def adjust_stock(
    session: Session,
    sku_or_id: str | int,
    delta: int,
    *,
    reason: str,
    kind: MovementReason = MovementReason.ADJUST,
    actor: str = "system",
    actor_id: int | None = None,
    force: bool = False,
    now: datetime | None = None,
    commit: bool = True,
) -> Adjustment:
    """Change on-hand stock by ``delta`` for ``reason`` (recorded on the movement and in the
    audit log). On hand never goes below zero. Removing units that shoppers' live holds claim
    is refused (:class:`StockHeldError`) unless ``force``: then the newest holds on the variant
    are released, whole, until the rest fit; their refs are returned."""
    if delta == 0:
        raise StockError("An adjustment must change the quantity.")
    if not reason.strip():
        raise StockError("Say why the stock changes (a reason is required).")
    if kind not in ADJUSTABLE:
        raise StockError(f"Stock cannot be adjusted as {kind.value!r}; sales come from holds.")
    with _unit(session, commit):
        variant_id = _resolve_variant_id(session, sku_or_id)
        variant = lock_variants(session, [variant_id]).get(variant_id)
        if variant is None:
            raise UnknownVariant(f"No variant with id {variant_id}.")
        now = _clock(now)
        before = variant.on_hand
        held, _owed = _claims(session, [variant_id], now).get(variant_id, (0, 0))
        released: list[str] = []
        if 0 <= before + delta < held:
            if not force:
                raise StockHeldError(
                    f"{variant.sku}: {held} of the {before} on hand are held by shoppers' "
                    f"checkouts, so removing {-delta} would leave them short. Wait for the "
                    "holds to end, or force it (the newest holds are released)."
                )
            released = _release_newest_holds(session, variant_id, held - (before + delta), now)
        movement = record_movement(
            session, variant, delta, kind, actor=actor, note=reason.strip(), now=now
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


def _release_newest_holds(
    session: Session, variant_id: int, units: int, now: datetime
) -> list[str]:
    """Release whole live holds on a variant, newest first, until ``units`` are freed."""
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
        _move(_hold_rows(session, hold_ref, lock=True), HoldState.RELEASED, now)
        released.append(hold_ref)
        units -= stock_part
    return released


@dataclass(frozen=True)
class BackorderAllocation:
    hold_ref: str
    variant_id: int
    quantity: int


def allocate_backorders(
    session: Session,
    variant_id: int,
    *,
    actor: str = "system",
    now: datetime | None = None,
    commit: bool = True,
) -> list[BackorderAllocation]:
    """Take owed back-order units out of stock, oldest sale first, as far as the stock that no
    live hold claims allows (a SALE movement each). Safe to repeat."""
    with _unit(session, commit):
        variant = lock_variants(session, [variant_id]).get(variant_id)
        if variant is None:
            raise UnknownVariant(f"No variant with id {variant_id}.")
        now = _clock(now)
        held, _owed = _claims(session, [variant_id], now).get(variant_id, (0, 0))
        free = variant.on_hand - held
        owed_rows = session.scalars(
            select(Reservation)
            .where(
                Reservation.variant_id == variant_id,
                Reservation.state == HoldState.COMMITTED,
                Reservation.backorder_quantity > 0,
            )
            .order_by(Reservation.committed_at, Reservation.id)
            .with_for_update()
        ).all()
        done: list[BackorderAllocation] = []
        for row in owed_rows:
            take = min(row.backorder_quantity, free)
            if take <= 0:
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
    claims = _statements().all_claims
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
    rows = session.execute(stmt, {"now": _clock(now)})
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
    now = _clock(now)
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


def cancel_owed(
    session: Session, hold_ref: str, *, now: datetime | None = None, commit: bool = True
) -> int:
    """A cancelled order no longer waits: its hold's owed back-order units stop being owed
    (the sold quantity shrinks by as much; nothing left stock, so no movement). Returns the
    number of units released."""
    with _unit(session, commit):
        rows, _ = _lock_hold(session, hold_ref, variants=True)
        released = 0
        for row in rows:
            if row.state is HoldState.COMMITTED and row.backorder_quantity:
                released += row.backorder_quantity
                row.quantity -= row.backorder_quantity
                row.backorder_quantity = 0
    return released
