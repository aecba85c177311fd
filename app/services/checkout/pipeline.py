"""The checkout pipeline, as an explicit state machine.

Phases, in order: cart_validation → inventory_reservation → price_lock → payment_authorization
→ order_creation → payment_capture → stock_commit. The first three run when the shopper submits
the address form (one transaction: the checkout, its line snapshot and its stock hold appear
together or not at all); payment_authorization when they choose how to pay; the last three
when the provider reports the payment (``services.completion``).

Each phase that changes something has an undo step (``UNDO``): a failure in any phase runs the
undo steps of the phases before it, newest first (release the hold, void or refund the payment,
cancel the order), and records the failing phase and reason on the checkout. Every transition,
failure, rollback step and price-drift finding is a ``CheckoutEvent`` row and a JSON log line.

Invariants: one active checkout per cart (unique ``checkouts.active_cart_id``); the amount sent
to a provider equals the snapshot total the shopper confirmed; no database lock is held while a
provider is called.
"""

from __future__ import annotations

import enum
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from app import clock
from app.db import begin_write
from app.models import (
    ACTIVE_STATES,
    CartLine,
    Checkout,
    CheckoutEvent,
    CheckoutLine,
    CheckoutState,
    Reservation,
    Variant,
)
from app.services import locks
from app.services.errors import DomainError, NotFound
from app.services.stock import inventory
from app.services.transactions import unit_of_work

log = logging.getLogger("holdfast.checkout")


class Phase(enum.StrEnum):
    CART_VALIDATION = "cart_validation"
    INVENTORY_RESERVATION = "inventory_reservation"
    PRICE_LOCK = "price_lock"
    PAYMENT_AUTHORIZATION = "payment_authorization"
    ORDER_CREATION = "order_creation"
    PAYMENT_CAPTURE = "payment_capture"
    STOCK_COMMIT = "stock_commit"


PHASES = list(Phase)

# The one transition table. A checkout may only move along these edges; ``transition`` refuses
# anything else. Ended checkouts may still move to completing: a payment that lands late is
# re-reserved, back-ordered or refunded, never dropped.
TRANSITIONS: dict[CheckoutState, frozenset[CheckoutState]] = {
    CheckoutState.RESERVED: frozenset(
        {
            CheckoutState.AWAITING_PAYMENT,
            CheckoutState.COMPLETING,
            CheckoutState.EXPIRED,
            CheckoutState.CANCELLED,
            CheckoutState.FAILED,
        }
    ),
    CheckoutState.AWAITING_PAYMENT: frozenset(
        {
            CheckoutState.AWAITING_PAYMENT,
            CheckoutState.RESERVED,
            CheckoutState.COMPLETING,
            CheckoutState.EXPIRED,
            CheckoutState.CANCELLED,
            CheckoutState.FAILED,
        }
    ),
    CheckoutState.COMPLETING: frozenset(
        {
            CheckoutState.COMPLETING,
            CheckoutState.COMPLETED,
            CheckoutState.FAILED,
        }
    ),
    CheckoutState.EXPIRED: frozenset({CheckoutState.COMPLETING}),
    CheckoutState.CANCELLED: frozenset({CheckoutState.COMPLETING}),
    CheckoutState.FAILED: frozenset({CheckoutState.COMPLETING}),
    CheckoutState.COMPLETED: frozenset(),
}


class CheckoutError(DomainError):
    """A checkout that could not go on. Carries the phase it failed in; the page, HTMX fragment
    or JSON answer shows ``message``. ``shortfalls`` lists short items (inventory phase)."""

    status_code = 409

    def __init__(
        self,
        phase: Phase,
        message: str,
        *,
        status_code: int | None = None,
        checkout_id: str | None = None,
        shortfalls: tuple = (),
    ) -> None:
        super().__init__(message)
        self.phase = phase
        self.checkout_id = checkout_id
        self.shortfalls = shortfalls
        if status_code is not None:
            self.status_code = status_code


class IllegalTransition(RuntimeError):
    pass


@dataclass(frozen=True)
class Address:
    email: str
    full_name: str
    address_line1: str
    city: str
    postal_code: str
    country: str


@dataclass(frozen=True)
class Settings:
    """What the pipeline needs from configuration, passed in (services never read Flask)."""

    ttl_minutes: float = 15
    max_ttl_minutes: float = 60
    drift_tolerance_percent: float = 1.0


# ---------------------------------------------------------------- events and transitions


def record_event(
    session: Session,
    checkout: Checkout,
    kind: str,
    message: str = "",
    *,
    phase: str | None = None,
    **details: Any,
) -> None:
    """One structured record: a CheckoutEvent row (in the caller's transaction) and a JSON
    log line carrying the checkout id and phase."""
    phase = phase or checkout.phase
    session.add(
        CheckoutEvent(
            checkout_id=checkout.id,
            kind=kind,
            phase=phase,
            state=checkout.state.value,
            message=message,
            details=details,
        )
    )
    log.info(
        json.dumps(
            {
                "event": f"checkout.{kind}",
                "checkout_id": checkout.public_id,
                "phase": phase,
                "state": checkout.state.value,
                "message": message,
                **details,
            },
            default=str,
        )
    )


def transition(
    session: Session,
    checkout: Checkout,
    to: CheckoutState,
    phase: Phase | str,
    message: str = "",
    *,
    now: datetime | None = None,
    **details: Any,
) -> None:
    """Move a checkout along one edge of ``TRANSITIONS`` and record it."""
    if to not in TRANSITIONS[checkout.state]:
        raise IllegalTransition(f"checkout {checkout.public_id}: {checkout.state} → {to}")
    previous = checkout.state
    checkout.state = to
    checkout.phase = str(phase)
    checkout.updated_at = clock.now(now)
    if to not in ACTIVE_STATES:
        checkout.active_cart_id = None
        checkout.ended_at = checkout.ended_at or clock.now(now)
    record_event(
        session,
        checkout,
        "transition",
        message,
        phase=str(phase),
        **{"from": previous.value, "to": to.value},
        **details,
    )


def lock_checkout(session: Session, checkout_id: int) -> Checkout:
    """Lock one checkout row for a state change (``services.locks``: after its cart, before
    its order, payment, variants and hold)."""
    checkout = locks.lock_checkout(session, checkout_id)
    if checkout is None:
        raise DomainError("No such checkout.")
    return checkout


@unit_of_work
def note_event(session: Session, checkout_id: int, kind: str, message: str, phase: Phase) -> None:
    """Record one event on a checkout, under its lock, in a transaction of its own."""
    checkout = lock_checkout(session, checkout_id)
    record_event(session, checkout, kind, message, phase=phase)
    session.commit()


# ---------------------------------------------------------------- undo steps


def _undo_hold(session: Session, checkout: Checkout, now: datetime) -> str:
    if not checkout.hold_ref:
        return "no hold"
    try:
        hold = inventory.release_hold(session, checkout.hold_ref, now=now, commit=False)
    except inventory.HoldError as exc:
        return f"hold left as it was: {exc.message}"
    return f"hold {hold.state.value}"


# Undo steps of the phases that run in the shop's own transaction. The payment phases' undo
# steps (void, refund) call providers and live in ``services.completion``.
UNDO: dict[Phase, Callable[[Session, Checkout, datetime], str]] = {
    Phase.INVENTORY_RESERVATION: _undo_hold,
}


def fail_checkout(
    session: Session,
    checkout: Checkout,
    phase: Phase,
    reason: str,
    *,
    now: datetime | None = None,
    extra_undo: dict[Phase, Callable[[Session, Checkout, datetime], str]] | None = None,
) -> None:
    """Record a failure in ``phase`` and run the undo steps of the phases before it, newest
    first, each recorded. The caller holds the checkout's lock and commits."""
    now = clock.now(now)
    record_event(session, checkout, "failure", reason, phase=phase.value)
    steps = {**UNDO, **(extra_undo or {})}
    for earlier in reversed(PHASES[: PHASES.index(phase)]):
        undo = steps.get(earlier)
        if undo is not None:
            outcome = undo(session, checkout, now)
            record_event(session, checkout, "rollback", outcome, phase=earlier.value)
    checkout.failure_phase = phase.value
    checkout.failure_reason = reason
    if CheckoutState.FAILED in TRANSITIONS[checkout.state]:
        transition(session, checkout, CheckoutState.FAILED, phase, reason, now=now)


# ---------------------------------------------------------------- starting a checkout


def new_public_id() -> str:
    return "co_" + secrets.token_urlsafe(18)


def _validated_lines(session: Session, cart_id: int, max_per_line: int) -> list[CartLine]:
    """Phase cart_validation: a cart with lines of active products in one currency."""
    lines = list(
        session.scalars(
            select(CartLine)
            .where(CartLine.cart_id == cart_id)
            .options(joinedload(CartLine.variant).joinedload(Variant.product))
            .order_by(CartLine.id)
        )
    )
    if not lines:
        raise CheckoutError(Phase.CART_VALIDATION, "Your cart is empty.", status_code=400)
    for line in lines:
        if not line.variant.product.is_active:
            raise CheckoutError(
                Phase.CART_VALIDATION,
                f"{line.variant.product.name} is no longer sold; remove it first.",
            )
        if line.quantity > max_per_line:
            raise CheckoutError(
                Phase.CART_VALIDATION, f"You can buy at most {max_per_line} of one item per order."
            )
    if len({line.variant.currency for line in lines}) > 1:
        raise CheckoutError(
            Phase.CART_VALIDATION, "Items in different currencies cannot be bought together."
        )
    return lines


def _line_name(variant: Variant) -> str:
    return f"{variant.product.name} — {variant.name}" if variant.name else variant.product.name


@unit_of_work
def start_checkout(
    session: Session,
    cart_id: int,
    address: Address,
    *,
    owner_key: str,
    user_id: int | None = None,
    settings: Settings = Settings(),
    max_per_line: int = 99,
    now: datetime | None = None,
) -> Checkout:
    """Validate the cart, hold its stock and snapshot its prices, in one transaction.

    Raises :class:`CheckoutError` (phase cart_validation or inventory_reservation, the latter
    naming each short item in ``shortfalls``); then nothing is held and the failed attempt is
    recorded for the owner. An older active checkout of the same cart is cancelled first.

    Locks: the cart, its older active checkout, then the variants of both the old hold and the
    cart (in id order, together), then the old hold's rows.
    """
    now = clock.now(now)
    try:
        locks.lock_cart(session, cart_id)
        lines = _validated_lines(session, cart_id, max_per_line)
        cancel_active_for_carts(
            session,
            [cart_id],
            "You started a new checkout.",
            now=now,
            also_variants=[line.variant_id for line in lines],
        )
        checkout = _new_checkout(
            session, cart_id, address, owner_key, user_id, lines, now, settings
        )
        hold = inventory.take_hold(
            session,
            [(line.variant_id, line.quantity) for line in lines],
            ttl_minutes=settings.ttl_minutes,
            checkout_id=checkout.id,
            now=now,
            commit=False,
        )
        checkout.hold_ref = hold.ref
        checkout.expires_at = hold.expires_at
        record_event(
            session,
            checkout,
            "phase",
            "stock held",
            phase=Phase.INVENTORY_RESERVATION,
            hold_ref=hold.ref,
            expires_at=hold.expires_at.isoformat(),
            backordered={
                str(h.variant_id): h.backorder_quantity for h in hold.lines if h.backorder_quantity
            },
        )
        checkout.phase = Phase.PRICE_LOCK.value
        record_event(
            session,
            checkout,
            "phase",
            "prices snapshotted",
            phase=Phase.PRICE_LOCK,
            total_cents=checkout.total_cents,
            currency=checkout.currency,
        )
        session.commit()
    except inventory.InsufficientStock as exc:
        session.rollback()
        _record_failed_start(
            session,
            cart_id,
            address,
            owner_key,
            user_id,
            Phase.INVENTORY_RESERVATION,
            exc.message,
            now,
        )
        raise CheckoutError(
            Phase.INVENTORY_RESERVATION, exc.message, shortfalls=exc.shortfalls
        ) from exc
    except CheckoutError as exc:
        session.rollback()
        _record_failed_start(
            session, cart_id, address, owner_key, user_id, exc.phase, exc.message, now
        )
        raise
    except IntegrityError as exc:
        session.rollback()
        raise CheckoutError(
            Phase.CART_VALIDATION, "A checkout for this cart is already in progress."
        ) from exc
    return checkout


def _new_checkout(
    session: Session,
    cart_id: int,
    address: Address,
    owner_key: str,
    user_id: int | None,
    lines: list[CartLine],
    now: datetime,
    settings: Settings,
) -> Checkout:
    checkout = Checkout(
        public_id=new_public_id(),
        cart_id=cart_id,
        active_cart_id=cart_id,
        user_id=user_id,
        owner_key=owner_key,
        state=CheckoutState.RESERVED,
        phase=Phase.CART_VALIDATION.value,
        email=address.email,
        full_name=address.full_name,
        address_line1=address.address_line1,
        city=address.city,
        postal_code=address.postal_code,
        country=address.country,
        currency=lines[0].variant.currency,
        total_cents=sum(line.variant.price_cents * line.quantity for line in lines),
        hold_started_at=now,
        expires_at=now + timedelta(minutes=settings.ttl_minutes),
        created_at=now,
        updated_at=now,
    )
    checkout.lines = [
        CheckoutLine(
            variant_id=line.variant_id,
            sku=line.variant.sku,
            name=_line_name(line.variant),
            quantity=line.quantity,
            unit_price_cents=line.variant.price_cents,
        )
        for line in lines
    ]
    session.add(checkout)
    session.flush()
    record_event(
        session,
        checkout,
        "transition",
        "checkout started",
        phase=Phase.CART_VALIDATION,
        **{"from": None, "to": "reserved"},
        lines=len(lines),
    )
    return checkout


def _record_failed_start(
    session: Session,
    cart_id: int,
    address: Address,
    owner_key: str,
    user_id: int | None,
    phase: Phase,
    reason: str,
    now: datetime,
) -> None:
    """Keep a row of a checkout that failed before it held anything (the owner's view of
    failed checkouts and ``flask checkout monitor`` read it)."""
    begin_write(session)
    checkout = Checkout(
        public_id=new_public_id(),
        cart_id=cart_id,
        active_cart_id=None,
        user_id=user_id,
        owner_key=owner_key,
        state=CheckoutState.FAILED,
        phase=phase.value,
        email=address.email,
        full_name=address.full_name,
        address_line1=address.address_line1,
        city=address.city,
        postal_code=address.postal_code,
        country=address.country,
        currency="USD",
        total_cents=0,
        hold_started_at=now,
        expires_at=now,
        created_at=now,
        updated_at=now,
        ended_at=now,
        failure_phase=phase.value,
        failure_reason=reason,
    )
    session.add(checkout)
    session.flush()
    record_event(session, checkout, "failure", reason, phase=phase.value)
    session.commit()


# ---------------------------------------------------------------- reading and expiry


def get_checkout(session: Session, public_id: str, owner_key: str) -> Checkout:
    """The checkout, only for the shopper who started it (anyone else: not found)."""
    checkout = session.scalar(
        select(Checkout)
        .where(Checkout.public_id == public_id)
        .options(selectinload(Checkout.lines))
    )
    if checkout is None or not secrets.compare_digest(checkout.owner_key, owner_key):
        raise NotFound("We could not find that checkout.")
    return checkout


def expire_if_due(session: Session, checkout: Checkout, now: datetime | None = None) -> Checkout:
    return _expire(session, checkout.id, checkout, now)


@unit_of_work
def _expire(
    session: Session, checkout_id: int, checkout: Checkout, now: datetime | None = None
) -> Checkout:
    """An active checkout whose hold deadline has passed becomes expired (its hold stopped
    counting at the deadline already; this records it). Commits when it changes anything."""
    now = clock.now(now)
    if checkout.state not in (CheckoutState.RESERVED, CheckoutState.AWAITING_PAYMENT):
        return checkout
    if checkout.expires_at > now:
        return checkout
    checkout = lock_checkout(session, checkout_id)
    if (
        checkout.state in (CheckoutState.RESERVED, CheckoutState.AWAITING_PAYMENT)
        and checkout.expires_at <= now
    ):
        outcome = _undo_hold(session, checkout, now)
        transition(
            session,
            checkout,
            CheckoutState.EXPIRED,
            checkout.phase,
            "the hold expired before payment",
            now=now,
            hold=outcome,
        )
    session.commit()
    return checkout


def cancel_active_for_cart(
    session: Session, cart_id: int, reason: str, *, now: datetime | None = None
) -> Checkout | None:
    """Cancel the cart's active checkout (if any) and release its hold, in the caller's write
    transaction, which holds the cart's lock. A checkout already completing is left alone: its
    payment is in. Returns the cancelled checkout."""
    cancelled = cancel_active_for_carts(session, [cart_id], reason, now=now)
    return cancelled[0] if cancelled else None


def cancel_active_for_carts(
    session: Session,
    cart_ids: list[int],
    reason: str,
    *,
    now: datetime | None = None,
    also_variants: list[int] = (),
) -> list[Checkout]:
    """Cancel the active checkouts of ``cart_ids`` (whose locks the caller holds) and release
    their holds. Locks, in the one order: the checkouts, then the variants of all their holds
    together with ``also_variants`` (which the caller is about to hold), then the holds' rows."""
    now = clock.now(now)
    begin_write(session)
    ids = list(session.scalars(select(Checkout.id).where(Checkout.active_cart_id.in_(cart_ids))))
    checkouts = [
        c
        for c in locks.lock_checkouts(session, ids).values()
        if c.active_cart_id in cart_ids
        and c.state in (CheckoutState.RESERVED, CheckoutState.AWAITING_PAYMENT)
    ]
    refs = [c.hold_ref for c in checkouts if c.hold_ref]
    held = (
        list(session.scalars(select(Reservation.variant_id).where(Reservation.hold_ref.in_(refs))))
        if refs
        else []
    )
    inventory.lock_stock(session, [*held, *also_variants])
    for checkout in checkouts:
        outcome = _undo_hold(session, checkout, now)
        transition(
            session,
            checkout,
            CheckoutState.CANCELLED,
            checkout.phase,
            reason,
            now=now,
            hold=outcome,
        )
    session.flush()
    return checkouts


@unit_of_work
def extend_checkout(
    session: Session,
    checkout_id: int,
    *,
    settings: Settings = Settings(),
    now: datetime | None = None,
) -> Checkout:
    """The shopper's one extension: the hold moves to now + TTL, never past the maximum."""
    now = clock.now(now)
    checkout = lock_checkout(session, checkout_id)
    try:
        if (
            checkout.state not in (CheckoutState.RESERVED, CheckoutState.AWAITING_PAYMENT)
            or checkout.expires_at <= now
        ):
            raise CheckoutError(
                Phase.INVENTORY_RESERVATION,
                "This checkout can no longer be extended; your hold has ended.",
            )
        if checkout.extensions >= 1:
            raise CheckoutError(
                Phase.INVENTORY_RESERVATION, "You have already extended this checkout once."
            )
        try:
            hold = inventory.extend_hold(
                session,
                checkout.hold_ref or "",
                minutes=settings.ttl_minutes,
                max_ttl_minutes=settings.max_ttl_minutes,
                now=now,
                commit=False,
            )
        except inventory.HoldError as exc:
            raise CheckoutError(Phase.INVENTORY_RESERVATION, exc.message) from exc
        checkout.extensions += 1
        checkout.expires_at = hold.expires_at
        record_event(
            session,
            checkout,
            "extension",
            "hold extended",
            phase=Phase.INVENTORY_RESERVATION,
            expires_at=hold.expires_at.isoformat(),
        )
        session.commit()
    except CheckoutError:
        session.rollback()
        raise
    return checkout


# ---------------------------------------------------------------- price drift


@dataclass(frozen=True)
class PriceDrift:
    snapshot_total_cents: int
    current_total_cents: int
    changed: tuple[tuple[str, int, int], ...]  # (name, snapshot unit price, current unit price)

    @property
    def percent(self) -> float:
        if self.snapshot_total_cents == 0:
            return 0.0 if self.current_total_cents == 0 else 100.0
        delta = abs(self.current_total_cents - self.snapshot_total_cents)
        return delta * 100 / self.snapshot_total_cents

    def needs_confirmation(self, tolerance_percent: float) -> bool:
        return bool(self.changed) and self.percent > tolerance_percent


def price_drift(session: Session, checkout: Checkout) -> PriceDrift:
    prices = dict(
        session.execute(
            select(Variant.id, Variant.price_cents).where(
                Variant.id.in_([line.variant_id for line in checkout.lines])
            )
        ).all()
    )
    current = sum(
        prices.get(line.variant_id, line.unit_price_cents) * line.quantity
        for line in checkout.lines
    )
    changed = tuple(
        (line.name, line.unit_price_cents, prices[line.variant_id])
        for line in checkout.lines
        if line.variant_id in prices and prices[line.variant_id] != line.unit_price_cents
    )
    return PriceDrift(checkout.total_cents, current, changed)


@unit_of_work
def confirm_new_prices(
    session: Session, checkout_id: int, seen_total_cents: int, *, now: datetime | None = None
) -> Checkout:
    """The shopper accepted the current prices: the snapshot moves to them. ``seen_total_cents``
    is the total the shopper was shown; if prices moved again since, nothing changes."""
    now = clock.now(now)
    checkout = lock_checkout(session, checkout_id)
    drift = price_drift(session, checkout)
    if drift.current_total_cents != seen_total_cents:
        session.rollback()
        raise CheckoutError(Phase.PRICE_LOCK, "Prices changed again; please review the new total.")
    prices = dict(
        session.execute(
            select(Variant.id, Variant.price_cents).where(
                Variant.id.in_([line.variant_id for line in checkout.lines])
            )
        ).all()
    )
    for line in checkout.lines:
        line.unit_price_cents = prices.get(line.variant_id, line.unit_price_cents)
    record_event(
        session,
        checkout,
        "price_drift",
        "shopper confirmed new prices",
        phase=Phase.PRICE_LOCK,
        old_total_cents=checkout.total_cents,
        new_total_cents=drift.current_total_cents,
    )
    checkout.total_cents = drift.current_total_cents
    checkout.updated_at = now
    session.commit()
    return checkout


def end_stale_checkouts(session: Session, *, now: datetime | None = None, limit: int = 500) -> int:
    """Expire active checkouts whose hold deadline has passed (a periodic job calls this; the
    pages also do it lazily). Returns how many were expired."""
    now = clock.now(now)
    ids = list(
        session.scalars(
            select(Checkout.id)
            .where(
                Checkout.state.in_([CheckoutState.RESERVED, CheckoutState.AWAITING_PAYMENT]),
                Checkout.expires_at <= now,
            )
            .limit(limit)
        )
    )
    session.rollback()
    for checkout_id in ids:
        checkout = session.get(Checkout, checkout_id)
        if checkout is not None:
            expire_if_due(session, checkout, now)
    return len(ids)
