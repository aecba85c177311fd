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
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
    Reservation,
)
from app.providers.base import PaymentProvider, PaymentState, ProviderError
from app.services import locks
from app.services.checkout.states import (
    Phase,
    lock_checkout,
    note_event,
    record_event,
    transition,
)
from app.services.discounts import uses as discount_uses
from app.services.errors import NotFound
from app.services.orders import aborts, fulfilment
from app.services.orders import order_book as orders
from app.services.orders.outcomes import Completion, outcome_of
from app.services.stock import holds, ledger
from app.services.transactions import unit_of_work

CLAIM_STALE_AFTER = timedelta(minutes=2)
LATE_HOLD_MINUTES = 5


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
            return aborts.refunded_at_provider(session, payment.id, state, now)
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
        return aborts.refund_duplicate(session, provider, payment_id, state, now)
    captured = _capture(session, provider, payment_id, payment, checkout, state, claim, now)
    if isinstance(captured, Completion):
        return captured
    if (
        captured.captured_cents != checkout.total_cents
        or captured.currency.upper() != checkout.currency.upper()
    ):
        return aborts.abort(
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
    if isinstance(result, (ledger.InsufficientStock, discount_uses.CodeNoLongerAvailable)):
        return aborts.abort(
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


def _capture(
    session: Session,
    provider: PaymentProvider,
    payment_id: int,
    payment: Payment,
    checkout: Checkout,
    state: PaymentState,
    claim: _Claim,
    now: datetime,
) -> PaymentState | Completion:
    """Phase payment_capture, no lock held: the captured payment; or, when the provider
    cannot capture it, the answer (try again later, or the payment aborted)."""
    try:
        # Keys name the provider's payment, unique across every shop on the same account.
        session.rollback()  # no connection held while the provider is asked
        return (
            state
            if state.status in CAPTURED_STATES
            else provider.capture(
                payment.provider_ref, f"capture-{payment.provider}-{payment.provider_ref}"
            )
        )
    except ProviderError as exc:
        if exc.retryable:
            note_event(session, checkout.id, "capture_retry", exc.message, Phase.PAYMENT_CAPTURE)
            return Completion(
                "in_progress", "Confirming your payment…", claim.order_number, checkout.public_id
            )
        return aborts.abort(
            session,
            provider,
            payment_id,
            None,
            Phase.PAYMENT_CAPTURE,
            f"capture refused: {exc.message}",
            now,
        )


def _late_hold(session: Session, checkout: Checkout, now: datetime) -> holds.Hold:
    """The original hold is gone: hold the same lines again (back-orderable variants are held
    beyond stock) and turn the new hold into the sale. Raises InsufficientStock."""
    hold = holds.take_hold(
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
    return holds.commit_hold(session, hold.ref, now=now, commit=False)


def _lock_for_stock_commit(session: Session, payment_id: int) -> tuple[Checkout, Order, Payment]:
    """Lock, in the one order: the cart, the checkout, the order, the payment, then the
    variants of the checkout's lines and hold together (id order)."""
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
    return checkout, order, payment


def _sell_hold(session: Session, checkout: Checkout, now: datetime) -> holds.Hold:
    """The checkout's hold becomes the sale; a hold that has ended is taken again first
    (``_late_hold``). Raises InsufficientStock."""
    try:
        return holds.commit_hold(session, checkout.hold_ref or "", now=now, commit=False)
    except (holds.HoldExpired, holds.HoldNotActive, holds.HoldNotFound):
        return _late_hold(session, checkout, now)


@unit_of_work
def _commit_stock(
    session: Session,
    payment_id: int,
    captured: PaymentState,
    now: datetime,
    links: orders.OrderLinks,
) -> Completion | ledger.InsufficientStock | discount_uses.CodeNoLongerAvailable:
    """Phase stock_commit: the hold becomes a sale, the order is paid (or awaits stock), the
    checkout completes and the cart empties, in one transaction. A late payment whose items
    sold out meanwhile changes nothing and returns the refusal (the caller refunds it).

    Locks, in the one order: the cart, the checkout, the order, the payment, the variants of
    the checkout's lines and hold, the hold's rows, then license keys."""
    checkout, order, payment = _lock_for_stock_commit(session, payment_id)
    try:
        hold = _sell_hold(session, checkout, now)
        discount_uses.commit_for_checkout(session, checkout.id, checkout.discount_code, now)
    except (ledger.InsufficientStock, discount_uses.CodeNoLongerAvailable) as exc:
        session.rollback()
        return exc
    backordered = sum(line.backorder_quantity for line in hold.lines)
    orders.set_status(order, OrderStatus.PAID)
    order.paid_at = now
    orders.add_event(order, OrderStatus.PAID, "Payment received.", now)
    fulfilment.fulfil_at_payment(session, order, hold, now, links)
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
