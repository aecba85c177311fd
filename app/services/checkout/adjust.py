"""What the shopper changes on the review page: the shipping rate, and the discount code.

Each change re-prices the checkout's snapshot (``checkout.totals``) at the snapshot's own unit
prices, under the checkout's lock, and is a ``CheckoutEvent``. A discount code is applied by
holding one of its uses until the checkout's deadline (``discounts.uses``); one code per
checkout: another replaces it only after the first is removed, which gives its use back.

Locks, in the one order: the checkout, then the discount code, then its holds.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from sqlalchemy.orm import Session

from app import clock
from app.models import Checkout, CheckoutState
from app.services.checkout import totals
from app.services.checkout.pipeline import CheckoutError
from app.services.checkout.states import Phase, lock_checkout, record_event
from app.services.discounts import rules
from app.services.discounts import uses as discount_uses
from app.services.errors import DomainError
from app.services.transactions import unit_of_work

OPEN = (CheckoutState.RESERVED, CheckoutState.AWAITING_PAYMENT)


class AdjustError(DomainError):
    """A change the review page refuses; the message says why."""

    status_code = 422


def _open(session: Session, checkout_id: int, now: datetime) -> Checkout:
    checkout = lock_checkout(session, checkout_id)
    if checkout.state not in OPEN or checkout.expires_at <= now:
        raise CheckoutError(
            Phase.PRICE_LOCK,
            "This checkout has ended; start again from your cart.",
            checkout_id=checkout.public_id,
        )
    return checkout


def _reprice(session: Session, checkout: Checkout, rate_id: int | None = None) -> None:
    try:
        totals.snapshot(session, checkout, rate_id=rate_id)
    except totals.ShippingUnavailable as exc:
        raise AdjustError(exc.message) from exc


@unit_of_work
def choose_shipping(
    session: Session, checkout_id: int, rate_id: int, *, now: datetime | None = None
) -> Checkout:
    """Ship with ``rate_id``, one of the rates the review page offers for this cart."""
    now = clock.now(now)
    checkout = _open(session, checkout_id, now)
    offered = {o.id for o in totals.rate_options(session, checkout) if o.price_cents is not None}
    if rate_id not in offered:
        raise AdjustError("Choose one of the shipping options offered.")
    _reprice(session, checkout, rate_id)
    record_event(
        session,
        checkout,
        "shipping",
        f"shipping: {checkout.shipping_name}",
        phase=Phase.PRICE_LOCK,
        rate_id=rate_id,
        shipping_cents=checkout.shipping_cents,
        total_cents=checkout.total_cents,
    )
    checkout.updated_at = now
    session.commit()
    return checkout


def shopper_of(checkout: Checkout) -> str:
    return rules.shopper_key(checkout.email, checkout.user_id)


@unit_of_work
def apply_code(
    session: Session, checkout_id: int, text: str | None, *, now: datetime | None = None
) -> Checkout:
    """Hold one use of the code for the checkout and price it in. Raises a ``DiscountError``
    (unknown, not yet or no longer valid, minimum spend, used up, already used by this
    shopper) or :class:`AdjustError` (another code is applied)."""
    now = clock.now(now)
    code = rules.normalize_code(text)
    checkout = _open(session, checkout_id, now)
    if checkout.discount_code == code:
        return checkout
    if checkout.discount_code:
        raise AdjustError(
            f"The code {checkout.discount_code} is applied; remove it first to use another."
        )
    discount_uses.hold_use(
        session,
        code,
        checkout.id,
        shopper_of(checkout),
        checkout.expires_at,
        now,
        subtotal_cents=sum(line.gross_cents for line in checkout.lines),
        currency=checkout.currency,
        product_ids=totals.product_ids_of(session, checkout).values(),
        actor="shopper",
        commit=False,
    )
    checkout.discount_code = code
    _reprice(session, checkout)
    _note_code(session, checkout, f"discount code {code} applied", code)
    checkout.updated_at = now
    session.commit()
    return checkout


@unit_of_work
def remove_code(session: Session, checkout_id: int, *, now: datetime | None = None) -> Checkout:
    """Take the code off: its held use is given back and the checkout re-priced."""
    now = clock.now(now)
    checkout = _open(session, checkout_id, now)
    code = checkout.discount_code
    if not code:
        return checkout
    discount_uses.release_for_checkout(session, checkout.id, "removed by shopper", now)
    checkout.discount_code = ""
    _reprice(session, checkout)
    _note_code(session, checkout, f"discount code {code} removed", code)
    checkout.updated_at = now
    session.commit()
    return checkout


def _note_code(session: Session, checkout: Checkout, message: str, code: str) -> None:
    record_event(
        session,
        checkout,
        "discount",
        message,
        phase=Phase.PRICE_LOCK,
        code=code,
        discount_cents=checkout.discount_cents,
        total_cents=checkout.total_cents,
    )


def carry_over(
    session: Session,
    checkout_id: int,
    *,
    rate_id: int | None,
    code: str,
    now: datetime | None = None,
) -> str | None:
    """A new checkout started in place of an ended one (*Try again*) keeps the shopper's
    shipping choice and code where they still apply. Returns what the shopper should be told
    when the code could not be applied again (used up meanwhile, say), else None."""
    if rate_id:  # no longer offered: the cheapest stands, shown on the review page
        with contextlib.suppress(AdjustError):
            choose_shipping(session, checkout_id, rate_id, now=now)
    if not code:
        return None
    try:
        apply_code(session, checkout_id, code, now=now)
    except (rules.DiscountError, AdjustError) as refused:
        return f"We could not apply the code {code} again: {refused.message}"
    return None
