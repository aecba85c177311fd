"""Completing a checkout when its payment is reported: order_creation → payment_capture →
stock_commit, exactly once.

The provider reports a payment twice (the shopper's return and the webhook) and reconciliation
may ask a third time; any of them may arrive first, at the same instant, or after the hold
expired. ``complete_payment`` is safe to call any number of times, concurrently:

- the checkout row is locked to *claim* it (state ``completing``); a second caller finds the
  claim (or the finished order) and returns without calling the provider;
- one checkout has at most one order (unique ``orders.checkout_id``) and the capture uses an
  idempotency key per payment, so at most one capture happens;
- no lock is held while the provider is called: claim, commit, capture, then lock again to
  commit stock;
- a claim left by a crashed worker goes stale after ``CLAIM_STALE_AFTER`` and is taken over;
- a payment that lands after its hold expired is re-reserved if stock allows, back-ordered for
  back-orderable variants, and otherwise refunded, never dropped; a second captured payment for
  a checkout that already has an order is refunded;
- a captured amount that differs from the checkout's total is refunded and recorded, not an
  order.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app import clock
from app.models import (
    CAPTURED_STATES,
    CartLine,
    Checkout,
    CheckoutState,
    OrderStatus,
    Payment,
    Refund,
    RefundStatus,
    Reservation,
)
from app.providers.base import PaymentProvider, PaymentState, PaymentStatus, ProviderError
from app.services import locks
from app.services.checkout.pipeline import (
    TRANSITIONS,
    Phase,
    fail_checkout,
    lock_checkout,
    record_event,
    transition,
)
from app.services.errors import NotFound
from app.services.mail import notifications
from app.services.orders import fulfilment as fulfillment
from app.services.orders import order_book as orders
from app.services.stock import inventory
from app.services.transactions import unit_of_work

CLAIM_STALE_AFTER = timedelta(minutes=2)
LATE_HOLD_MINUTES = 5


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
                LATE_REFUNDED
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


def verify_return(
    session: Session, provider: PaymentProvider, provider_ref: str, params: dict[str, str]
) -> PaymentState:
    """Ask the provider about the payment the shopper says they made (``params`` are never
    trusted), holding no database connection meanwhile. Raises ``InvalidSignature`` or
    ``ProviderError``."""
    session.rollback()
    return provider.verify_return(provider_ref, params)


def find_payment(session: Session, provider: str, provider_ref: str) -> Payment | None:
    return session.scalar(
        select(Payment).where(Payment.provider == provider, Payment.provider_ref == provider_ref)
    )


def shoppers_payment(
    session: Session, provider: str, provider_ref: str, owner_key: str
) -> tuple[Payment, Checkout]:
    """A payment of ours and its checkout (expired now if its hold ran out), only for the
    shopper who started that checkout; anyone else: NotFound."""
    from app.services.checkout import pipeline

    payment = find_payment(session, provider, provider_ref)
    if payment is None:
        raise NotFound("We could not find that payment.")
    public_id = session.get(Checkout, payment.checkout_id).public_id
    checkout = pipeline.get_checkout(session, public_id, owner_key)
    return payment, pipeline.expire_if_due(session, checkout)


def latest_payment(session: Session, checkout_id: int) -> Payment | None:
    return session.scalar(
        select(Payment).where(Payment.checkout_id == checkout_id).order_by(Payment.id.desc())
    )


def complete_payment(
    session: Session,
    provider: PaymentProvider,
    provider_ref: str,
    *,
    source: str,
    links: orders.OrderLinks,
    now: datetime | None = None,
    state: PaymentState | None = None,
) -> Completion:
    """Act on what the provider says of a payment (fetched unless ``state`` is given).
    ``links`` makes the order links for the emails queued on completion."""
    now = clock.now(now)
    payment = find_payment(session, provider.name, provider_ref)
    if payment is None:
        return Completion("unknown", "No payment with that reference.")
    public_id = session.get(Checkout, payment.checkout_id).public_id
    session.rollback()  # no transaction stays open across the provider call
    if state is None:
        state = provider.fetch(provider_ref)
    _note_state(session, payment.id, state, now)
    if state.status is PaymentStatus.PENDING:
        return Completion(
            "pending", "Waiting for the payment to be confirmed.", checkout_public_id=public_id
        )
    if state.status in (PaymentStatus.FAILED, PaymentStatus.VOIDED):
        return _declined(session, payment.id, state, source, now)
    if state.status in (PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED):
        existing = orders.order_for_checkout(session, payment.checkout_id)
        if existing is None or payment.order_id != existing.id:
            return _refunded_at_provider(session, payment.id, state, now)
    return _complete(session, provider, payment.id, state, source, now, links)


@unit_of_work
def _note_state(session: Session, payment_id: int, state: PaymentState, now: datetime) -> None:
    payment = locks.lock_payment(session, payment_id)
    if payment.status not in CAPTURED_STATES or state.status in CAPTURED_STATES:
        payment.status = state.status
    payment.captured_cents = max(payment.captured_cents, state.captured_cents)
    payment.capture_ref = payment.capture_ref or state.capture_ref
    payment.last_checked_at = now
    session.commit()


@unit_of_work
def _declined(
    session: Session, payment_id: int, state: PaymentState, source: str, now: datetime
) -> Completion:
    """The shopper's payment was declined: while the hold lives they may try again."""
    payment = session.get(Payment, payment_id)
    checkout = lock_checkout(session, payment.checkout_id)
    if checkout.state is CheckoutState.AWAITING_PAYMENT and checkout.expires_at > now:
        transition(
            session,
            checkout,
            CheckoutState.RESERVED,
            Phase.PAYMENT_AUTHORIZATION,
            "payment declined; the shopper may try again",
            now=now,
            source=source,
            provider=payment.provider,
            provider_ref=payment.provider_ref,
        )
    elif source != "reconcile":  # reconciliation asks again and again; it says nothing new
        record_event(
            session,
            checkout,
            "payment_declined",
            "payment declined",
            phase=Phase.PAYMENT_AUTHORIZATION,
            source=source,
        )
    session.commit()
    return Completion(
        "failed",
        "The payment was declined. Nothing was charged.",
        checkout_public_id=checkout.public_id,
    )


@unit_of_work
def _refunded_at_provider(
    session: Session, payment_id: int, state: PaymentState, now: datetime
) -> Completion:
    """The provider reports money already returned for a payment with no order (for example
    a refund event that arrived before the capture): record the refund, make no order, and
    end the checkout if it still holds stock (its hold is released). Locks: the checkout, its
    pending order, the payment, then the hold's variants and rows."""
    payment = session.get(Payment, payment_id)
    checkout = lock_checkout(session, payment.checkout_id)
    order = locks.lock_order(session, payment.order_id) if payment.order_id else None
    payment = locks.lock_payment(session, payment_id)
    key = f"provider-{payment.provider}-{payment.provider_ref}"
    if session.scalar(select(Refund.id).where(Refund.idempotency_key == key)) is None:
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
    if (
        CheckoutState.FAILED in TRANSITIONS[checkout.state]
        and checkout.state is not CheckoutState.FAILED
    ):

        def cancel_order(_session: Session, _checkout: Checkout, at: datetime) -> str:
            if order is None or order.status is not OrderStatus.PENDING_PAYMENT:
                return "no order to cancel"
            orders.set_status(order, OrderStatus.CANCELLED)
            orders.add_event(
                order,
                OrderStatus.CANCELLED,
                "Payment refunded before it completed; nothing is owed.",
                at,
            )
            return f"order {order.number} cancelled"

        fail_checkout(
            session,
            checkout,
            Phase.PAYMENT_CAPTURE,
            "the payment was refunded at the provider before it was captured",
            now=now,
            extra_undo={
                Phase.ORDER_CREATION: cancel_order,
                Phase.PAYMENT_AUTHORIZATION: lambda *_: "refunded",
            },
        )
    session.commit()
    return Completion(
        "refunded",
        "This payment was refunded; your order was not placed and nothing is owed.",
        checkout_public_id=checkout.public_id,
    )


@dataclass(frozen=True)
class _Claim:
    outcome: str  # "claimed" | "done" | "busy" | "duplicate"
    order_number: str | None = None


@unit_of_work
def _claim(session: Session, payment_id: int, source: str, now: datetime) -> _Claim:
    """Phase order_creation, under the checkout's lock: claim the checkout and create its order
    (pending payment), or find that someone else has (or is about to). Locks: the checkout,
    then the payment."""
    payment = session.get(Payment, payment_id)
    checkout = lock_checkout(session, payment.checkout_id)
    order = orders.order_for_checkout(session, checkout.id)
    payment = locks.lock_payment(session, payment_id)
    if order is not None and order.status is not OrderStatus.PENDING_PAYMENT:
        session.commit()
        if payment.order_id == order.id:
            return _Claim("done", order.number)
        return _Claim("duplicate", order.number)
    if checkout.state is CheckoutState.COMPLETING and now - checkout.updated_at < CLAIM_STALE_AFTER:
        if order is not None and payment.order_id not in (None, order.id):
            session.commit()
            return _Claim("duplicate", order.number)
        if order is not None:
            session.commit()
            return _Claim("busy", order.number)
    if checkout.state is CheckoutState.COMPLETING:
        checkout.updated_at = now
        record_event(
            session, checkout, "claim", "completion taken over", phase=checkout.phase, source=source
        )
    else:
        late = checkout.state in (
            CheckoutState.EXPIRED,
            CheckoutState.CANCELLED,
            CheckoutState.FAILED,
        )
        transition(
            session,
            checkout,
            CheckoutState.COMPLETING,
            Phase.ORDER_CREATION,
            "payment reported" + (" after the checkout ended" if late else ""),
            now=now,
            source=source,
            provider=payment.provider,
        )
    if order is None:
        order = orders.create_order_from_checkout(session, checkout, now)
        record_event(
            session,
            checkout,
            "phase",
            f"order {order.number} created",
            phase=Phase.ORDER_CREATION,
            order=order.number,
        )
    payment.order_id = order.id
    session.commit()
    return _Claim("claimed", order.number)


def _complete(
    session: Session,
    provider: PaymentProvider,
    payment_id: int,
    state: PaymentState,
    source: str,
    now: datetime,
    links: orders.OrderLinks,
) -> Completion:
    claim = _claim(session, payment_id, source, now)
    payment = session.get(Payment, payment_id)
    checkout = session.get(Checkout, payment.checkout_id)
    if claim.outcome == "done":
        return outcome_of(session, checkout.id)
    if claim.outcome == "busy":
        return Completion(
            "in_progress", "Confirming your payment…", claim.order_number, checkout.public_id
        )
    if claim.outcome == "duplicate":
        return _refund_duplicate(session, provider, payment_id, state, now)
    try:
        # Keys name the provider's payment, unique across every shop on the same account.
        session.rollback()  # no connection held while the provider is asked
        captured = (
            state
            if state.status in CAPTURED_STATES
            else provider.capture(
                payment.provider_ref, f"capture-{payment.provider}-{payment.provider_ref}"
            )
        )
    except ProviderError as exc:
        if exc.retryable:
            _note(session, checkout.id, "capture_retry", exc.message, Phase.PAYMENT_CAPTURE)
            return Completion(
                "in_progress", "Confirming your payment…", claim.order_number, checkout.public_id
            )
        return _abort(
            session,
            provider,
            payment_id,
            None,
            Phase.PAYMENT_CAPTURE,
            f"capture refused: {exc.message}",
            now,
        )
    if (
        captured.captured_cents != checkout.total_cents
        or captured.currency.upper() != checkout.currency.upper()
    ):
        return _abort(
            session,
            provider,
            payment_id,
            captured,
            Phase.PAYMENT_CAPTURE,
            f"captured {captured.captured_cents} {captured.currency} but the checkout "
            f"total is {checkout.total_cents} {checkout.currency}",
            now,
        )
    result = _commit_stock(session, payment_id, captured, now, links)
    if isinstance(result, inventory.InsufficientStock):
        return _abort(
            session,
            provider,
            payment_id,
            captured,
            Phase.STOCK_COMMIT,
            f"payment arrived after the hold expired and {result.message}",
            now,
            late=True,
        )
    return result


@unit_of_work
def _note(session: Session, checkout_id: int, kind: str, message: str, phase: Phase) -> None:
    checkout = lock_checkout(session, checkout_id)
    record_event(session, checkout, kind, message, phase=phase)
    session.commit()


def _late_hold(session: Session, checkout: Checkout, now: datetime) -> inventory.Hold:
    """The original hold is gone: hold the same lines again (back-orderable variants are held
    beyond stock) and turn the new hold into the sale. Raises InsufficientStock."""
    hold = inventory.take_hold(
        session,
        [(line.variant_id, line.quantity) for line in checkout.lines],
        ttl_minutes=LATE_HOLD_MINUTES,
        checkout_id=checkout.id,
        now=now,
        commit=False,
    )
    record_event(
        session,
        checkout,
        "late_payment",
        "the hold had ended; stock held again",
        phase=Phase.STOCK_COMMIT,
        old_hold=checkout.hold_ref,
        new_hold=hold.ref,
    )
    checkout.hold_ref = hold.ref
    return inventory.commit_hold(session, hold.ref, now=now, commit=False)


@unit_of_work
def _commit_stock(
    session: Session,
    payment_id: int,
    captured: PaymentState,
    now: datetime,
    links: orders.OrderLinks,
) -> Completion | inventory.InsufficientStock:
    """Phase stock_commit: the hold becomes a sale, the order is paid (or awaits stock), the
    checkout completes and the cart empties, in one transaction. A late payment whose items
    sold out meanwhile changes nothing and returns the refusal (the caller refunds it).

    Locks, in the one order: the cart, the checkout, the order, the payment, the variants of
    the checkout's lines and hold, the hold's rows, then license keys."""
    payment = session.get(Payment, payment_id)
    cart_id = session.scalar(select(Checkout.cart_id).where(Checkout.id == payment.checkout_id))
    if cart_id is not None:
        locks.lock_cart(session, cart_id)
    checkout = lock_checkout(session, payment.checkout_id)
    order = locks.lock_order(session, payment.order_id)
    payment = locks.lock_payment(session, payment_id)
    held = session.scalars(
        select(Reservation.variant_id).where(Reservation.hold_ref == (checkout.hold_ref or ""))
    )
    locks.lock_variants(session, [*held, *(line.variant_id for line in checkout.lines)])
    try:
        try:
            hold = inventory.commit_hold(session, checkout.hold_ref or "", now=now, commit=False)
        except (inventory.HoldExpired, inventory.HoldNotActive, inventory.HoldNotFound):
            hold = _late_hold(session, checkout, now)
    except inventory.InsufficientStock as exc:
        session.rollback()
        return exc
    backordered = sum(line.backorder_quantity for line in hold.lines)
    orders.set_status(order, OrderStatus.PAID)
    order.paid_at = now
    orders.add_event(order, OrderStatus.PAID, "Payment received.", now)
    fulfillment.fulfil_at_payment(session, order, hold, now, links)
    payment.status = captured.status
    payment.captured_cents = captured.captured_cents
    payment.capture_ref = captured.capture_ref or payment.capture_ref
    record_event(
        session,
        checkout,
        "phase",
        "stock committed",
        phase=Phase.STOCK_COMMIT,
        hold_ref=hold.ref,
        backordered=backordered,
    )
    transition(
        session,
        checkout,
        CheckoutState.COMPLETED,
        Phase.STOCK_COMMIT,
        f"order {order.number} paid",
        now=now,
        order=order.number,
    )
    if checkout.cart_id is not None:
        session.execute(delete(CartLine).where(CartLine.cart_id == checkout.cart_id))
    session.commit()
    return Completion("completed", "Your order is confirmed.", order.number, checkout.public_id)


REFUND_CLAIM_STALE_AFTER = timedelta(minutes=2)
REFUND_WAIT_SECONDS = 15.0


def refund_through_provider(
    session: Session,
    provider: PaymentProvider,
    payment_id: int,
    state: PaymentState,
    amount_cents: int,
    key: str,
    reason: str,
    *,
    order_id: int | None = None,
    restock_lines: dict[str, int] | None = None,
    actor: str = "system",
) -> Refund:
    """Refund through the provider and record it, once per ``key``.

    The refund row is claimed first (state ``requested``, under the order's and payment's
    locks), then the provider is asked with no lock held, then its answer is recorded. A second
    caller with the same key (a double click) finds the claim and waits for the first caller's
    answer instead of asking the provider again; a succeeded refund is returned as it is. The
    payment counts a refund once. A provider failure is recorded as a failed refund for the
    owner to see and retry, never hidden."""
    claim, refund = _claim_refund(
        session, payment_id, state, amount_cents, key, reason, order_id, restock_lines or {}, actor
    )
    if claim == "done":
        return refund
    if claim == "busy":
        return _await_refund(session, refund.id)
    try:
        result = provider.refund(state, refund.amount_cents, key)
        status, error, ref = RefundStatus.SUCCEEDED, None, result.provider_refund_id
        if result.status == "pending":
            status = RefundStatus.PENDING
        elif result.status == "failed":
            status, error = RefundStatus.FAILED, "the provider reports the refund failed"
    except ProviderError as exc:
        status, error, ref = RefundStatus.FAILED, exc.message, None
    return _record_refund(session, refund.id, state, order_id, status, error, ref)


@unit_of_work
def _claim_refund(
    session: Session,
    payment_id: int,
    state: PaymentState,
    amount_cents: int,
    key: str,
    reason: str,
    order_id: int | None,
    restock_lines: dict[str, int],
    actor: str,
) -> tuple[str, Refund]:
    """``claimed`` (ask the provider), ``busy`` (another caller is asking) or ``done``."""
    if order_id is not None:
        locks.lock_order(session, order_id)
    locks.lock_payment(session, payment_id)
    now = clock.utcnow()
    refund = session.scalar(select(Refund).where(Refund.idempotency_key == key))
    if refund is None:
        refund = Refund(
            payment_id=payment_id,
            order_id=order_id,
            idempotency_key=key,
            amount_cents=amount_cents,
            currency=state.currency,
            reason=reason,
            restock=bool(restock_lines),
            restock_lines=restock_lines or None,
            actor=actor,
            status=RefundStatus.REQUESTED,
            created_at=now,
            updated_at=now,
        )
        session.add(refund)
        session.commit()
        return "claimed", refund
    refund = locks.lock_leaf(session, Refund, refund.id)
    if refund.status is RefundStatus.SUCCEEDED:
        outcome = "done"
    elif (
        refund.status is RefundStatus.REQUESTED
        and now - (refund.updated_at or refund.created_at) < REFUND_CLAIM_STALE_AFTER
    ):
        outcome = "busy"
    else:  # failed, pending or an abandoned claim: ask the provider again with the same key
        refund.status, refund.updated_at = RefundStatus.REQUESTED, now
        outcome = "claimed"
    session.commit()
    return outcome, refund


def _await_refund(session: Session, refund_id: int) -> Refund:
    """Wait (briefly) for the caller holding a refund's claim to record the answer."""
    deadline = time.monotonic() + REFUND_WAIT_SECONDS
    while True:
        refund = session.get(Refund, refund_id, populate_existing=True)
        session.rollback()
        if refund.status is not RefundStatus.REQUESTED or time.monotonic() > deadline:
            return refund
        time.sleep(0.1)


@unit_of_work
def _record_refund(
    session: Session,
    refund_id: int,
    state: PaymentState,
    order_id: int | None,
    status: RefundStatus,
    error: str | None,
    provider_refund_id: str | None,
) -> Refund:
    """Record the provider's answer under the order's and the payment's locks. The payment
    counts a refund when its row first becomes ``succeeded``, never twice."""
    refund = session.get(Refund, refund_id)
    if order_id is not None:
        locks.lock_order(session, order_id)
    payment = locks.lock_payment(session, refund.payment_id)
    refund = locks.lock_leaf(session, Refund, refund_id)
    if refund.status is RefundStatus.SUCCEEDED:
        session.commit()
        return refund
    refund.status, refund.error, refund.provider_refund_id = status, error, provider_refund_id
    refund.updated_at = clock.utcnow()
    if status is RefundStatus.SUCCEEDED:
        if order_id is None:  # nothing else records it: no order, nothing to restock
            refund.applied_at = refund.updated_at
        payment.refunded_cents += refund.amount_cents
        payment.status = (
            PaymentStatus.REFUNDED
            if payment.refunded_cents >= state.captured_cents
            else PaymentStatus.PARTIALLY_REFUNDED
        )
    session.commit()
    return refund


def _abort(
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
        refund = refund_through_provider(
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
        message = LATE_REFUNDED
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
    captured = PaymentState(
        payment.provider_ref,
        payment.status,
        payment.amount_cents,
        payment.currency,
        payment.captured_cents,
        payment.refunded_cents,
        payment.capture_ref,
    )
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
    payment = session.get(Payment, payment_id)
    checkout = lock_checkout(session, payment.checkout_id)
    order = locks.lock_order(session, payment.order_id) if payment.order_id else None
    payment = locks.lock_payment(session, payment_id)
    if captured is None and payment.status not in CAPTURED_STATES:
        payment.status = PaymentStatus.FAILED
        payment.error = reason

    def cancel_order(_session: Session, _checkout: Checkout, at: datetime) -> str:
        if order is None or order.status is not OrderStatus.PENDING_PAYMENT:
            return "no order to cancel"
        orders.set_status(order, OrderStatus.CANCELLED)
        orders.add_event(
            order,
            OrderStatus.CANCELLED,
            "Payment could not be completed: "
            + ("refunded in full." if captured else "nothing was charged."),
            at,
        )
        return f"order {order.number} cancelled"

    fail_checkout(
        session,
        checkout,
        phase,
        reason,
        now=now,
        extra_undo={
            Phase.PAYMENT_CAPTURE: lambda *_: money,
            Phase.ORDER_CREATION: cancel_order,
            Phase.PAYMENT_AUTHORIZATION: lambda *_: money if captured is None else "see capture",
        },
    )
    if captured is not None and captured.captured_cents > 0:
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
    abort_refund = session.scalar(
        select(Refund.id).where(
            Refund.idempotency_key == f"abort-{payment.provider}-{payment.provider_ref}",
            Refund.status == RefundStatus.SUCCEEDED,
            Refund.applied_at.is_(None),
        )
    )
    if abort_refund is not None:  # the leaf row last, as the lock order asks
        locks.lock_leaf(session, Refund, abort_refund).applied_at = now
    session.commit()
    return checkout


def _refund_duplicate(
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
        refund_through_provider(
            session,
            provider,
            payment_id,
            state,
            state.captured_cents,
            f"duplicate-{payment.provider}-{payment.provider_ref}",
            "a second payment for one checkout",
        )
    _note(
        session,
        checkout.id,
        "duplicate_payment",
        f"payment {payment.provider_ref} duplicated order {order.number}; returned",
        Phase.PAYMENT_CAPTURE,
    )
    return Completion("completed", "Your order is confirmed.", order.number, checkout.public_id)
