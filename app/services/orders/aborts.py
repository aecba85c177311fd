"""Undoing a completion that cannot finish, and money that comes back without an order.

- ``abort``: refund (or void) the payment at the provider first, with no lock held, then cancel
  the pending order, fail the checkout (its hold released) and tell the shopper, in one
  transaction; ``finish_abort`` repeats that shop side for reconciliation.
- ``refund_duplicate``: a second payment captured for a checkout that already has its order.
- ``refunded_at_provider``: the provider reports a payment refunded before it was captured
  (no order is made; the checkout ends and frees its stock).
"""

from __future__ import annotations

import contextlib
import functools
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.models import (
    CAPTURED_STATES,
    Checkout,
    CheckoutState,
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from app.providers.base import PaymentProvider, PaymentState, ProviderError
from app.services import locks
from app.services.checkout.states import (
    TRANSITIONS,
    Phase,
    fail_checkout,
    lock_checkout,
    note_event,
    record_event,
)
from app.services.mail import notifications
from app.services.orders import order_book as orders
from app.services.orders import refunds
from app.services.orders.outcomes import Completion, late_refund_words
from app.services.transactions import unit_of_work


@unit_of_work
def refunded_at_provider(
    session: Session, payment_id: int, state: PaymentState, now: datetime
) -> Completion:
    """The provider reports money already returned for a payment with no order (for example
    a refund event that arrived before the capture): record the refund, make no order, and
    end the checkout if it still holds stock (its hold is released). Locks: the checkout, its
    pending order, the payment, then the hold's variants and rows."""
    checkout, order, payment = _lock_checkout_order_payment(session, payment_id)
    _record_refund_without_order(session, checkout, payment, state, now)
    if (
        CheckoutState.FAILED in TRANSITIONS[checkout.state]
        and checkout.state is not CheckoutState.FAILED
    ):
        fail_checkout(
            session,
            checkout,
            Phase.PAYMENT_CAPTURE,
            "the payment was refunded at the provider before it was captured",
            now=now,
            extra_undo={
                Phase.ORDER_CREATION: functools.partial(
                    _cancel_pending_order,
                    order,
                    "Payment refunded before it completed; nothing is owed.",
                ),
                Phase.PAYMENT_AUTHORIZATION: lambda *_: "refunded",
            },
        )
    session.commit()
    return Completion(
        "refunded",
        "This payment was refunded; your order was not placed and nothing is owed.",
        checkout_public_id=checkout.public_id,
    )


def _lock_checkout_order_payment(
    session: Session, payment_id: int
) -> tuple[Checkout, Order | None, Payment]:
    """Lock, in the one order: the payment's checkout, its order (if it has one), the payment."""
    payment = session.get(Payment, payment_id)
    checkout = lock_checkout(session, payment.checkout_id)
    order = locks.lock_order(session, payment.order_id) if payment.order_id else None
    payment = locks.lock_payment(session, payment_id)
    return checkout, order, payment


def _record_refund_without_order(
    session: Session, checkout: Checkout, payment: Payment, state: PaymentState, now: datetime
) -> None:
    """Count the money the provider returned on the payment as a succeeded refund (once, by
    its key) and note it on the checkout."""
    key = f"provider-{payment.provider}-{payment.provider_ref}"
    if session.scalar(select(Refund.id).where(Refund.idempotency_key == key)) is not None:
        return
    payment.refunded_cents += state.refunded_cents
    session.add(
        Refund(
            payment_id=payment.id,
            idempotency_key=key,
            amount_cents=state.refunded_cents,
            currency=state.currency,
            reason="refunded at the provider before an order existed",
            status=RefundStatus.SUCCEEDED,
            created_at=now,
            updated_at=now,
            applied_at=now,
        )
    )
    record_event(
        session,
        checkout,
        "refund",
        "payment refunded at the provider; no order",
        phase=Phase.PAYMENT_CAPTURE,
        amount_cents=state.refunded_cents,
    )


def _cancel_pending_order(
    order: Order | None, note: str, _session: Session, _checkout: Checkout, at: datetime
) -> str:
    """An undo step of ``fail_checkout`` (bound to the order and the timeline's ``note``):
    cancel the order if it still awaits payment."""
    if order is None or order.status is not OrderStatus.PENDING_PAYMENT:
        return "no order to cancel"
    orders.set_status(order, OrderStatus.CANCELLED)
    orders.add_event(order, OrderStatus.CANCELLED, note, at)
    return f"order {order.number} cancelled"


def abort(
    session: Session,
    provider: PaymentProvider,
    payment_id: int,
    captured: PaymentState | None,
    phase: Phase,
    reason: str,
    now: datetime,
    *,
    late: bool = False,
) -> Completion:
    """Undo a completion that cannot finish: refund (or void) at the provider first, with no
    lock held, then cancel the order and release the hold under the checkout's lock."""
    payment = session.get(Payment, payment_id)
    if captured is not None and captured.captured_cents > 0:
        refund = refunds.refund_through_provider(
            session,
            provider,
            payment_id,
            captured,
            captured.captured_cents,
            f"abort-{payment.provider}-{payment.provider_ref}",
            reason,
            order_id=payment.order_id,
        )
        money = f"refund {refund.status.value}" + (f": {refund.error}" if refund.error else "")
    else:
        session.rollback()  # no connection held while the provider is asked
        try:
            provider.void(payment.provider_ref)
            money = "payment voided"
        except ProviderError as exc:
            money = f"void failed: {exc.message}"
    checkout = _abort_record(session, payment_id, captured, phase, reason, now, money, late)
    if late:
        message = late_refund_words(checkout)
    elif captured is not None:
        message = "We could not complete your order and have refunded your payment in full."
    else:
        message = "We could not complete your payment. Nothing was charged."
    return Completion(
        "refunded" if captured else "failed", message, checkout_public_id=checkout.public_id
    )


def finish_abort(session: Session, refund_id: int, *, now: datetime | None = None) -> None:
    """Finish an abort whose money went back but whose shop side was never recorded (the
    order cancelled, the checkout failed and its hold released, the shopper told). Safe to
    repeat."""
    now = clock.now(now)
    refund = session.get(Refund, refund_id)
    payment = session.get(Payment, refund.payment_id)
    captured = refunds.payment_state(payment)
    _abort_record(
        session,
        payment.id,
        captured,
        Phase.PAYMENT_CAPTURE,
        refund.reason,
        now,
        "refund succeeded",
        False,
    )


@unit_of_work
def _abort_record(
    session: Session,
    payment_id: int,
    captured: PaymentState | None,
    phase: Phase,
    reason: str,
    now: datetime,
    money: str,
    late: bool,
) -> Checkout:
    """The shop's side of an abort, in one transaction. Locks: the checkout, its order, the
    payment, then (releasing the hold) its variants and rows."""
    checkout, order, payment = _lock_checkout_order_payment(session, payment_id)
    if captured is None and payment.status not in CAPTURED_STATES:
        payment.status = PaymentStatus.FAILED
        payment.error = reason
    fail_checkout(
        session,
        checkout,
        phase,
        reason,
        now=now,
        extra_undo={
            Phase.PAYMENT_CAPTURE: lambda *_: money,
            Phase.ORDER_CREATION: functools.partial(
                _cancel_pending_order,
                order,
                "Payment could not be completed: "
                + ("refunded in full." if captured else "nothing was charged."),
            ),
            Phase.PAYMENT_AUTHORIZATION: lambda *_: money if captured is None else "see capture",
        },
    )
    if captured is not None and captured.captured_cents > 0:
        _tell_shopper_refunded(session, checkout, payment, captured, late)
    _mark_abort_refund_applied(session, payment, now)
    session.commit()
    return checkout


def _tell_shopper_refunded(
    session: Session, checkout: Checkout, payment: Payment, captured: PaymentState, late: bool
) -> None:
    notifications.late_payment_refunded(
        session,
        to=checkout.email,
        checkout_ref=checkout.public_id,
        amount_cents=captured.captured_cents,
        currency=captured.currency,
        reason=(
            "your payment arrived after your reservation ended and the items had sold out"
            if late
            else "we could not complete your order"
        ),
        items=[(line.name, line.quantity) for line in checkout.lines],
        payment_ref=payment.provider_ref,
    )


def _mark_abort_refund_applied(session: Session, payment: Payment, now: datetime) -> None:
    """The abort's succeeded refund is now recorded on the shop's side."""
    abort_refund = session.scalar(
        select(Refund.id).where(
            Refund.idempotency_key == f"abort-{payment.provider}-{payment.provider_ref}",
            Refund.status == RefundStatus.SUCCEEDED,
            Refund.applied_at.is_(None),
        )
    )
    if abort_refund is not None:  # the leaf row last, as the lock order asks
        locks.lock_leaf(session, Refund, abort_refund).applied_at = now


def refund_duplicate(
    session: Session,
    provider: PaymentProvider,
    payment_id: int,
    state: PaymentState,
    now: datetime,
) -> Completion:
    """A second payment captured for a checkout that already has its order: refund it."""
    payment = session.get(Payment, payment_id)
    checkout = session.get(Checkout, payment.checkout_id)
    order = orders.order_for_checkout(session, checkout.id)
    session.rollback()  # no connection held while the provider is asked
    if state.status not in CAPTURED_STATES:
        with contextlib.suppress(ProviderError):
            provider.void(payment.provider_ref)
    else:
        refunds.refund_through_provider(
            session,
            provider,
            payment_id,
            state,
            state.captured_cents,
            f"duplicate-{payment.provider}-{payment.provider_ref}",
            "a second payment for one checkout",
        )
    note_event(
        session,
        checkout.id,
        "duplicate_payment",
        f"payment {payment.provider_ref} duplicated order {order.number}; returned",
        Phase.PAYMENT_CAPTURE,
    )
    return Completion("completed", "Your order is confirmed.", order.number, checkout.public_id)
