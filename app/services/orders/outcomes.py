"""What a shopper is told about a payment they made: the outcome of its completion, the same
whichever report (the return, a status poll, the webhook) asks."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    Checkout,
    CheckoutState,
    OrderStatus,
    Payment,
)
from app.services.checkout.states import (
    Phase,
)
from app.services.orders import order_book as orders


@dataclass(frozen=True)
class Completion:
    """pending: not paid yet. in_progress: another caller is completing it. completed: the
    order exists. failed: declined or undone. refunded: money returned, no order."""

    outcome: str
    message: str
    order_number: str | None = None
    checkout_public_id: str | None = None


LATE_REFUNDED = (
    "Your payment arrived after your reservation ended and the items had sold "
    "out. We have refunded it in full."
)


def late_refund_words(checkout: Checkout) -> str:
    """Why a late payment was refunded: its items sold out, or its discount code's uses were
    all taken (``completion`` records which in the checkout's failure reason)."""
    code = checkout.discount_code
    if code and f"The code {code} is no longer available" in (checkout.failure_reason or ""):
        return (
            f"Your payment arrived after your reservation ended, and every use of the code "
            f"{code} had been taken meanwhile. We have refunded it in full."
        )
    return LATE_REFUNDED


def outcome_of(session: Session, checkout_id: int) -> Completion:
    """What the shopper is told of a checkout whose payment was reported, asked again and
    again (the return, the status page's polls, a second report): the same answer as the
    first report gave."""
    checkout = session.get(Checkout, checkout_id, populate_existing=True)
    order = orders.order_for_checkout(session, checkout_id)
    refunded = (
        session.scalar(
            select(Payment.id).where(
                Payment.checkout_id == checkout_id,
                Payment.captured_cents > 0,
                Payment.refunded_cents > 0,
            )
        )
        is not None
    )
    if checkout.state is CheckoutState.COMPLETED and order is not None:
        if order.status is OrderStatus.CANCELLED:
            return Completion(
                "refunded",
                "This order was cancelled and your payment refunded in full.",
                order.number,
                checkout.public_id,
            )
        return Completion("completed", "Your order is confirmed.", order.number, checkout.public_id)
    if checkout.state in (CheckoutState.FAILED, CheckoutState.EXPIRED, CheckoutState.CANCELLED):
        if refunded:
            message = (
                late_refund_words(checkout)
                if checkout.failure_phase == Phase.STOCK_COMMIT.value
                else "We could not complete your order and have refunded your payment in full."
            )
            return Completion("refunded", message, checkout_public_id=checkout.public_id)
        if checkout.state is CheckoutState.EXPIRED:
            message = "Your hold expired before your payment arrived. Nothing was charged."
        elif checkout.failure_phase == Phase.PAYMENT_AUTHORIZATION.value:
            message = "We could not complete your payment. Nothing was charged."
        else:
            message = "This checkout has ended. Nothing was charged."
        return Completion("failed", message, checkout_public_id=checkout.public_id)
    return Completion("pending", "Confirming your payment…", checkout_public_id=checkout.public_id)
