"""The checkout pipeline: starting a checkout, reading it back, and cancelling it.

Phases (``checkout.states``): cart_validation → inventory_reservation → price_lock →
payment_authorization → order_creation → payment_capture → stock_commit. The first three run
here, when the shopper submits the address form (:func:`start_checkout`, one transaction: the
checkout, its line snapshot and its stock hold appear together or not at all);
payment_authorization when they choose how to pay (``payments.authorize``); the last three when
the provider reports the payment (``orders.completion``).

This module also reads a checkout for the shopper who started it (expiring it when its hold
deadline has passed) and cancels a cart's active checkout (a new checkout, or a changed cart).
It builds on the state machine in ``checkout.states``; what happens to a checkout while it waits
(the extension, the price review, the periodic expiry) is in ``checkout.review``, which builds
on this module, never the reverse.

Invariants: one active checkout per cart (unique ``checkouts.active_cart_id``); the amount sent
to a provider equals the snapshot total the shopper confirmed; no database lock is held while a
provider is called.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from app import clock, metrics
from app.db import begin_write
from app.models import (
    CartLine,
    Checkout,
    CheckoutLine,
    CheckoutState,
    ProductKind,
    Reservation,
    Variant,
)
from app.services import locks
from app.services.checkout import totals
from app.services.checkout.states import Phase, lock_checkout, record_event, transition, undo_hold
from app.services.errors import DomainError, NotFound
from app.services.stock import holds, inventory, ledger
from app.services.transactions import unit_of_work


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


@dataclass(frozen=True)
class Address:
    """The contact and shipping address a checkout (and the order made from it) carries."""

    email: str
    full_name: str
    address_line1: str
    city: str
    postal_code: str
    country: str
    address_line2: str = ""
    region: str = ""
    phone: str = ""

    def columns(self) -> dict[str, str]:
        """The ``ShippingAddress`` columns (models/base.py) of a checkout or order."""
        return dict(self.__dict__)

    @classmethod
    def of(cls, row) -> Address:
        """The address a checkout or order carries."""
        return cls(**{name: getattr(row, name) for name in ADDRESS_FIELDS})


ADDRESS_FIELDS = tuple(Address.__dataclass_fields__)


@dataclass(frozen=True)
class Settings:
    """What the pipeline needs from configuration, passed in (services never read Flask)."""

    ttl_minutes: float = 15
    max_ttl_minutes: float = 60
    drift_tolerance_percent: float = 1.0


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
        _hold_stock(session, checkout, lines, settings, now)
        _lock_prices(session, checkout)
        session.commit()
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


def choices_of_active(session: Session, cart_id: int) -> tuple[int | None, str]:
    """The shipping rate and discount code the cart's active checkout was priced with, if it
    has one (a re-submitted checkout form keeps them: ``adjust.carry_over``). Reads only."""
    row = session.execute(
        select(Checkout.shipping_rate_id, Checkout.discount_code).where(
            Checkout.active_cart_id == cart_id
        )
    ).first()
    session.rollback()  # a read: the write transaction that follows starts afresh
    return (row[0], row[1]) if row is not None else (None, "")


def _hold_stock(
    session: Session,
    checkout: Checkout,
    lines: list[CartLine],
    settings: Settings,
    now: datetime,
) -> None:
    """Phase inventory_reservation: hold the lines' stock for the checkout, whose deadline
    becomes the hold's. Raises :class:`CheckoutError` naming each short item."""
    try:
        hold = holds.take_hold(
            session,
            [(line.variant_id, line.quantity) for line in lines],
            ttl_minutes=settings.ttl_minutes,
            checkout_id=checkout.id,
            now=now,
            commit=False,
        )
    except ledger.InsufficientStock as exc:
        raise CheckoutError(
            Phase.INVENTORY_RESERVATION, exc.message, shortfalls=exc.shortfalls
        ) from exc
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


def _lock_prices(session: Session, checkout: Checkout) -> None:
    """Phase price_lock: the lines, the cheapest shipping rate to the destination and its tax
    are priced (``checkout.totals``); the snapshot's total is the one the shopper pays."""
    checkout.phase = Phase.PRICE_LOCK.value
    try:
        totals.snapshot(session, checkout)
    except totals.ShippingUnavailable as exc:
        raise CheckoutError(Phase.PRICE_LOCK, exc.message, status_code=409) from exc
    record_event(
        session,
        checkout,
        "phase",
        "prices snapshotted",
        phase=Phase.PRICE_LOCK,
        subtotal_cents=checkout.subtotal_cents,
        shipping_cents=checkout.shipping_cents,
        shipping=checkout.shipping_name,
        tax_cents=checkout.tax_cents,
        total_cents=checkout.total_cents,
        currency=checkout.currency,
    )


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
        **address.columns(),
        currency=lines[0].variant.currency,
        total_cents=sum(line.variant.price_cents * line.quantity for line in lines),
        needs_shipping=any(line.variant.product.kind is not ProductKind.DIGITAL for line in lines),
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
            weight_grams=line.variant.weight_grams,
            is_digital=line.variant.product.kind is ProductKind.DIGITAL,
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
        **address.columns(),
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
    metrics.checkout_ended(session, CheckoutState.FAILED.value)
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
        outcome = undo_hold(session, checkout, now)
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


# ---------------------------------------------------------------- cancelling


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
        outcome = undo_hold(session, checkout, now)
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
