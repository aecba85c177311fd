"""What happens to a checkout while it waits for payment: the shopper's one extension of its
hold, the review of prices that moved since they were snapshotted, and the periodic expiry.

A checkout started by ``checkout.pipeline`` holds stock until its deadline. While it waits
(``reserved`` or ``awaiting_payment``) the shopper may extend the hold once
(:func:`extend_checkout`); when prices changed, :func:`price_drift` measures how far, and the
shopper accepts the new ones with :func:`confirm_new_prices`. :func:`end_stale_checkouts` (a
periodic job) expires the checkouts whose hold ran out; pages do it lazily
(``pipeline.expire_if_due``). Every change is a ``CheckoutEvent`` (``checkout.states``).

This module builds on the pipeline, which never imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.models import Checkout, CheckoutState, Variant
from app.services.checkout import totals
from app.services.checkout.pipeline import CheckoutError, Settings, expire_if_due
from app.services.checkout.states import Phase, lock_checkout, record_event
from app.services.discounts import uses as discount_uses
from app.services.stock import holds
from app.services.transactions import unit_of_work

# ---------------------------------------------------------------- extending the hold


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
            hold = holds.extend_hold(
                session,
                checkout.hold_ref or "",
                minutes=settings.ttl_minutes,
                max_ttl_minutes=settings.max_ttl_minutes,
                now=now,
                commit=False,
            )
        except holds.HoldError as exc:
            raise CheckoutError(Phase.INVENTORY_RESERVATION, exc.message) from exc
        checkout.extensions += 1
        checkout.expires_at = hold.expires_at
        discount_uses.extend_for_checkout(session, checkout.id, hold.expires_at, now)
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
    # What moved: (what, as snapshotted, as of now): each line's unit price, the shipping,
    # the tax.
    changed: tuple[tuple[str, int, int], ...]

    @property
    def percent(self) -> float:
        if self.snapshot_total_cents == 0:
            return 0.0 if self.current_total_cents == 0 else 100.0
        delta = abs(self.current_total_cents - self.snapshot_total_cents)
        return delta * 100 / self.snapshot_total_cents

    def needs_confirmation(self, tolerance_percent: float) -> bool:
        return bool(self.changed) and self.percent > tolerance_percent


def _current_prices(session: Session, checkout: Checkout) -> dict[int, int]:
    rows = session.execute(
        select(Variant.id, Variant.price_cents).where(
            Variant.id.in_([line.variant_id for line in checkout.lines])
        )
    )
    return {variant_id: value for variant_id, value in rows}


def price_drift(
    session: Session, checkout: Checkout, rows: totals.ShopRows | None = None
) -> PriceDrift:
    """The checkout priced as of now (today's prices, shipping rate and tax rates) against
    its snapshot. A shipping rate that can no longer serve the cart reads as a change of the
    whole total (the shopper must choose again)."""
    prices = _current_prices(session, checkout)
    changed = [
        (line.name, line.unit_price_cents, prices[line.variant_id])
        for line in checkout.lines
        if line.variant_id in prices and prices[line.variant_id] != line.unit_price_cents
    ]
    try:
        quote, _rate = totals.current_quote(session, checkout, prices, rows)
    except totals.ShippingUnavailable:
        return PriceDrift(checkout.total_cents, 0, (*changed, ("Shipping", 0, 0)))
    if quote.shipping_cents != checkout.shipping_cents:
        changed.append(("Shipping", checkout.shipping_cents, quote.shipping_cents))
    if quote.tax_cents != checkout.tax_cents:
        changed.append(("Tax", checkout.tax_cents, quote.tax_cents))
    if not changed and quote.grand_total_cents != checkout.total_cents:
        changed.append(("Total", checkout.total_cents, quote.grand_total_cents))
    return PriceDrift(checkout.total_cents, quote.grand_total_cents, tuple(changed))


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
    try:
        totals.snapshot(session, checkout, unit_prices=_current_prices(session, checkout))
    except totals.ShippingUnavailable as exc:
        session.rollback()
        raise CheckoutError(Phase.PRICE_LOCK, exc.message) from exc
    record_event(
        session,
        checkout,
        "price_drift",
        "shopper confirmed new prices",
        phase=Phase.PRICE_LOCK,
        old_total_cents=drift.snapshot_total_cents,
        new_total_cents=checkout.total_cents,
    )
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
