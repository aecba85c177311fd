"""Row locks: one module, one order, one strength, so no two transactions ever deadlock.

Every row lock the shop takes is taken here. The order, for every path (docs/ARCHITECTURE.md
lists each path's locks):

    user → cart → checkout → order → payment → variants → hold rows → discount codes
         → discount holds → license keys → leaf rows

and, within one kind, ascending id. A transaction may skip kinds but never goes back to an
earlier one, and a row it already holds may be asked for again at any time (that never waits).
Leaf rows (refunds, returns, webhook events, outbox messages) are locked last; license keys
and the sweeper's and mailer's claims use ``SKIP LOCKED``, which never waits.

Strength: ``FOR NO KEY UPDATE`` on Postgres. Other rows reference carts, checkouts, orders,
payments and variants by foreign key, and inserting such a row takes ``FOR KEY SHARE`` on the
row it references; ``FOR UPDATE`` conflicts with that, ``FOR NO KEY UPDATE`` does not. (Taking
``FOR UPDATE`` on a variant after inserting a checkout line that references it is a lock
upgrade that two buyers grant each other's way: the deadlock of the 40-buyer rush.) SQLite has
no row locks: its write transaction (``BEGIN IMMEDIATE``) serialises writers whole.

The order is checked as well as followed. Each session keeps a note of what its transaction
has locked; locking a kind after a later kind, or ids out of order, is a *violation*, and so is
flushing a change to a row of a locked kind that the transaction never locked (an UPDATE takes
the row's lock implicitly, in whatever order the code happens to flush). With ``STRICT`` (the
tests set it; ``HOLDFAST_STRICT_LOCKS=1`` in the environment) a violation raises
:class:`LockOrderViolation`; otherwise it is logged and counted, never fatal.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, event, select
from sqlalchemy.orm import Session

from app import metrics
from app.db import begin_write
from app.models import (
    Cart,
    CartLine,
    Checkout,
    CheckoutLine,
    DiscountCode,
    DiscountHold,
    LicenseKey,
    Order,
    OrderLine,
    OutboxMessage,
    Payment,
    Refund,
    Reservation,
    Return,
    TestpayPayment,
    User,
    Variant,
    WebhookEvent,
)

log = logging.getLogger("holdfast.locks")

STRICT = os.environ.get("HOLDFAST_STRICT_LOCKS", "").lower() in {"1", "true", "yes"}


class Kind(enum.IntEnum):
    """The kinds of rows that are locked, in the one order they are locked in."""

    USER = 10
    CART = 20
    CHECKOUT = 30
    ORDER = 40
    PAYMENT = 50
    VARIANT = 60
    HOLD = 70  # reservation rows
    DISCOUNT = 74  # discount codes (a limited code's row is as hot as a variant's)
    DISCOUNT_HOLD = 76  # discount holds (the sweeper's claims use SKIP LOCKED)
    KEY = 80  # license keys (SKIP LOCKED: never waits)
    LEAF = 90  # refunds, returns, webhook events, outbox messages, testpay's rows


class LockOrderViolation(RuntimeError):
    """A transaction locked rows out of the one order (or updated a row it never locked)."""


@dataclass
class _Held:
    """What one transaction has locked so far."""

    transaction: Any
    keys: dict[Kind, set] = field(default_factory=dict)
    inserted: set = field(default_factory=set)  # (kind, key) of rows this transaction made

    def highest(self) -> Kind | None:
        return max((k for k, v in self.keys.items() if v), default=None)


def _held(session: Session) -> _Held:
    transaction = session.get_transaction()
    note = session.info.get("holdfast.locks")
    if note is None or note.transaction is not transaction:
        note = _Held(transaction)
        session.info["holdfast.locks"] = note
    return note


def _violation(message: str) -> None:
    metrics.incr("locks.order_violation")
    if STRICT:
        raise LockOrderViolation(message)
    log.warning("lock order violation: %s", message)


def note_locked(session: Session, kind: Kind, keys: Iterable[Any], *, waits: bool = True) -> None:
    """Record that the transaction now holds ``keys`` of ``kind`` (checking the order first
    when taking them could wait)."""
    held = _held(session)
    keys = set(keys)
    mine = held.keys.setdefault(kind, set())
    new = keys - mine
    if new and waits:
        highest = held.highest()
        if highest is not None and highest > kind:
            _violation(
                f"locked {kind.name.lower()} {sorted(new, key=str)} after "
                f"{highest.name.lower()} rows"
            )
        elif mine and kind is not Kind.LEAF and min(new) < max(mine):
            _violation(
                f"locked {kind.name.lower()} {sorted(new)} after {max(mine)}: ids must "
                "be locked in ascending order"
            )
    mine |= keys


def holds(session: Session, kind: Kind, key: Any) -> bool:
    held = _held(session)
    return key in held.keys.get(kind, ()) or (kind, key) in held.inserted


# ---------------------------------------------------------------- locking


def _lock_many(session: Session, model, kind: Kind, ids: Iterable[int]) -> dict[int, Any]:
    ids = sorted(set(ids))
    begin_write(session)
    if not ids:
        return {}
    note_locked(session, kind, ids)
    rows = session.scalars(
        select(model)
        .where(model.id.in_(ids))
        .order_by(model.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).all()
    return {row.id: row for row in rows}


def lock_user(session: Session, user_id: int) -> User | None:
    return _lock_many(session, User, Kind.USER, [user_id]).get(user_id)


def lock_carts(session: Session, cart_ids: Iterable[int]) -> dict[int, Cart]:
    return _lock_many(session, Cart, Kind.CART, cart_ids)


def lock_cart(session: Session, cart_id: int) -> Cart | None:
    return lock_carts(session, [cart_id]).get(cart_id)


def lock_checkouts(session: Session, checkout_ids: Iterable[int]) -> dict[int, Checkout]:
    return _lock_many(session, Checkout, Kind.CHECKOUT, checkout_ids)


def lock_checkout(session: Session, checkout_id: int) -> Checkout | None:
    return lock_checkouts(session, [checkout_id]).get(checkout_id)


def lock_orders(session: Session, order_ids: Iterable[int]) -> dict[int, Order]:
    return _lock_many(session, Order, Kind.ORDER, order_ids)


def lock_order(session: Session, order_id: int) -> Order | None:
    return lock_orders(session, [order_id]).get(order_id)


def lock_payment(session: Session, payment_id: int) -> Payment | None:
    return _lock_many(session, Payment, Kind.PAYMENT, [payment_id]).get(payment_id)


def lock_variants(session: Session, variant_ids: Iterable[int]) -> dict[int, Variant]:
    return _lock_many(session, Variant, Kind.VARIANT, variant_ids)


def lock_discount_code(session: Session, code_id: int) -> DiscountCode | None:
    return _lock_many(session, DiscountCode, Kind.DISCOUNT, [code_id]).get(code_id)


def lock_discount_hold(session: Session, hold_id: int) -> DiscountHold | None:
    """Lock one discount hold (its code must be locked first when the hold changes a use)."""
    return _lock_many(session, DiscountHold, Kind.DISCOUNT_HOLD, [hold_id]).get(hold_id)


def lock_variant_rows(session: Session, statement, variant_ids: Iterable[int]) -> dict[int, Row]:
    """Lock variants with a prepared Core statement (the hot path of a hold reads only the
    stock columns); ``statement`` must select ``id`` and lock ``FOR NO KEY UPDATE`` in id
    order, taking the ``ids`` parameter."""
    ids = sorted(set(variant_ids))
    begin_write(session)
    note_locked(session, Kind.VARIANT, ids)
    session.flush()
    rows = session.connection().execute(statement, {"ids": ids}).all()
    return {row.id: row for row in rows}


def lock_reservations(session: Session, where, *, order_by=None) -> list[Reservation]:
    """Lock reservation rows matching ``where`` (their variants must be locked first), in id
    order; returned in ``order_by`` order if given."""
    begin_write(session)
    ids = list(session.scalars(select(Reservation.id).where(where).order_by(Reservation.id)))
    if not ids:
        return []
    note_locked(session, Kind.HOLD, ids)
    stmt = (
        select(Reservation)
        .where(Reservation.id.in_(ids))
        .order_by(Reservation.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    rows = list(session.scalars(stmt))
    if order_by is not None:
        position = {
            rid: n
            for n, rid in enumerate(
                session.scalars(
                    select(Reservation.id).where(Reservation.id.in_(ids)).order_by(*order_by)
                )
            )
        }
        rows.sort(key=lambda r: position[r.id])
    return rows


def lock_leaf(session: Session, model, row_id: int):
    """Lock one leaf row (a refund, a return, a webhook event, an outbox message)."""
    begin_write(session)
    note_locked(session, Kind.LEAF, [(model.__tablename__, row_id)])
    return session.scalar(
        select(model)
        .where(model.id == row_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


def skip_locked(session: Session, kind: Kind, stmt):
    """Claim rows with ``FOR NO KEY UPDATE SKIP LOCKED`` (never waits): ``stmt`` selects ORM
    rows of ``kind``; they are returned and noted as held."""
    begin_write(session)
    rows = list(session.scalars(stmt.with_for_update(key_share=True, skip_locked=True)))
    note_locked(session, kind, [_key(kind, row) for row in rows], waits=False)
    return rows


# ---------------------------------------------------------------- implicit locks


def _key(kind: Kind, row) -> Any:
    return (row.__tablename__, row.id) if kind is Kind.LEAF else row.id


# A changed row of these classes takes its lock on flush, so the transaction must have locked
# it first, or its parent for a line (kind, the parent's id attribute or None for the row).
GUARDS: dict[type, tuple[Kind, str | None]] = {
    User: (Kind.USER, None),
    Cart: (Kind.CART, None),
    CartLine: (Kind.CART, "cart_id"),
    Checkout: (Kind.CHECKOUT, None),
    CheckoutLine: (Kind.CHECKOUT, "checkout_id"),
    Order: (Kind.ORDER, None),
    OrderLine: (Kind.ORDER, "order_id"),
    Payment: (Kind.PAYMENT, None),
    Variant: (Kind.VARIANT, None),
    Reservation: (Kind.HOLD, None),
    DiscountCode: (Kind.DISCOUNT, None),
    DiscountHold: (Kind.DISCOUNT_HOLD, None),
    LicenseKey: (Kind.KEY, None),
    Refund: (Kind.LEAF, None),
    Return: (Kind.LEAF, None),
    WebhookEvent: (Kind.LEAF, None),
    OutboxMessage: (Kind.LEAF, None),
    TestpayPayment: (Kind.LEAF, None),
}


def _guard_key(kind: Kind, parent: str | None, row) -> Any:
    if parent is not None:
        return getattr(row, parent)
    return _key(kind, row)


def _before_flush(session: Session, _ctx, _instances) -> None:
    changed = [o for o in session.dirty if session.is_modified(o, include_collections=False)]
    for obj in [*changed, *session.deleted]:
        guard = GUARDS.get(type(obj))
        if guard is None:
            continue
        kind, parent = guard
        key = _guard_key(kind, parent, obj)
        if not holds(session, kind, key):
            what = f"{kind.name.lower()} {key}" if parent else "it"
            _violation(
                f"changed {type(obj).__name__} {_key(kind, obj)} without locking {what} first"
            )


def _after_flush(session: Session, _ctx) -> None:
    """Rows this transaction inserted are its own: nobody else can see them, let alone lock
    them, so changing them later in the transaction needs no lock."""
    for obj in session.new:
        guard = GUARDS.get(type(obj))
        if guard is not None and guard[1] is None and obj.id is not None:
            _held(session).inserted.add((guard[0], _key(guard[0], obj)))


def install(session_factory) -> None:
    """Check every session of ``session_factory`` (``Database`` calls this)."""
    event.listen(session_factory, "before_flush", _before_flush)
    event.listen(session_factory, "after_flush", _after_flush)
