"""Refunds of paid orders, full or partial, through the payment provider.

Every refund is a ``Refund`` row keyed by an idempotency key (a retry with the same key returns
the first result and never refunds twice), the provider is called with no lock held, and a
refund may return units to stock through the ledger (reason ``return``). The order's status and
timeline, and the audit log, record it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.models import (
    CAPTURED_STATES,
    MovementReason,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from app.providers.base import PaymentProvider, PaymentState, ProviderError
from app.services import audit, locks
from app.services.errors import DomainError, NotFound
from app.services.mail import notifications
from app.services.orders import order_book as orders
from app.services.orders import refund_tax
from app.services.stock import inventory
from app.services.transactions import unit_of_work

REFUNDABLE = (
    OrderStatus.PAID,
    OrderStatus.FULFILLED,
    OrderStatus.PARTIALLY_FULFILLED,
    OrderStatus.AWAITING_STOCK,
    OrderStatus.SHIPPED,
    OrderStatus.PARTIALLY_REFUNDED,
    OrderStatus.RETURN_REQUESTED,
    OrderStatus.RETURNED,
    OrderStatus.CANCELLED,
)


class RefundError(DomainError):
    status_code = 409


def succeeded(session: Session, idempotency_key: str) -> bool:
    """Whether a refund with this key went through."""
    return (
        session.scalar(
            select(Refund.id).where(
                Refund.idempotency_key == idempotency_key, Refund.status == RefundStatus.SUCCEEDED
            )
        )
        is not None
    )


def _captured_payment(session: Session, order_id: int) -> Payment:
    payment = session.scalar(
        select(Payment)
        .where(Payment.order_id == order_id, Payment.status.in_(CAPTURED_STATES))
        .order_by(Payment.id)
    )
    if payment is None:
        raise RefundError("This order has no captured payment to refund.")
    return payment


def refund_order(
    session: Session,
    providers: Callable[[str], PaymentProvider],
    order_number: str,
    *,
    amount_cents: int | None = None,
    reason: str,
    restock: Mapping[int, int] | None = None,
    actor: str = "system",
    idempotency_key: str | None = None,
    links: orders.OrderLinks | None = None,
    now: datetime | None = None,
    also: Callable[[Session, Order], None] | None = None,
    also_variants: list[int] = (),
    units_tax_cents: int | None = None,
) -> Refund:
    """Refund ``amount_cents`` (default: all that is left) of an order's payment and return
    ``restock`` units ({order line id: quantity}) to stock. The refund's tax is the amount's
    pro-rata share (``refund_tax``), or ``units_tax_cents`` for a return of units.

    Idempotent per ``idempotency_key``: a second call with the key (a double click) asks the
    provider with the same key, and the order records the refund, its restock and its email
    once. ``also(session, order)`` runs in the transaction that records it (a cancellation
    cancels the order there too), after ``also_variants`` are locked with the restocked ones.
    """
    now = clock.now(now)
    key = idempotency_key or f"refund-{secrets.token_hex(12)}"
    order, existing = _find_order_and_refund(session, order_number, key, reason)
    payment = _captured_payment(session, order.id)
    lines = _restock_lines(session, order.id, restock or {})
    if existing is not None and existing.status is RefundStatus.SUCCEEDED:
        refund = existing
    else:
        asked = _Ask(amount_cents, units_tax_cents, key, reason, actor)
        refund = _refund_what_is_left(session, providers, order, payment, lines, asked)
    apply_refund(
        session,
        refund.id,
        actor=actor,
        links=links,
        now=now,
        also=also,
        also_variants=list(also_variants),
    )
    return refund


def _find_order_and_refund(
    session: Session, order_number: str, key: str, reason: str
) -> tuple[Order, Refund | None]:
    """The order and the refund already made with ``key``, if any. A refund not yet made
    needs an order that can be refunded and a reason."""
    order = session.scalar(select(Order).where(Order.number == order_number))
    if order is None:
        raise NotFound(f"No order {order_number}.")
    existing = session.scalar(select(Refund).where(Refund.idempotency_key == key))
    if existing is None or existing.status is not RefundStatus.SUCCEEDED:
        if order.status not in REFUNDABLE:
            raise RefundError(
                f"Order {order.number} is {order.status.value}; it cannot be refunded."
            )
        if not reason.strip():
            raise RefundError("Say why you are refunding.")
    return order, existing


@dataclass(frozen=True)
class _Ask:
    amount_cents: int | None  # None: all that is left
    units_tax_cents: int | None  # a return's tax; None: the amount's pro-rata share
    key: str
    reason: str
    actor: str


def _refund_what_is_left(
    session: Session,
    providers: Callable[[str], PaymentProvider],
    order: Order,
    payment: Payment,
    lines: list[tuple[OrderLine, int]],
    asked: _Ask,
) -> Refund:
    """Refund the amount asked (default: all that is left) through the provider; the
    succeeded refund, or a twin request's with this key when nothing is left for this one."""
    left = payment.captured_cents - payment.refunded_cents
    amount = left if asked.amount_cents is None else asked.amount_cents
    if amount <= 0 or amount > left:
        return _twin_refund(session, asked.key, payment, left)
    state = payment_state(payment)
    refund = refund_through_provider(
        session,
        providers(payment.provider),
        payment.id,
        state,
        amount,
        asked.key,
        asked.reason,
        order_id=order.id,
        restock_lines={str(line.id): q for line, q in lines},
        actor=asked.actor,
        units_tax_cents=asked.units_tax_cents,
    )
    if refund.status is RefundStatus.FAILED:
        raise RefundError(f"The provider refused the refund: {refund.error}")
    if refund.status is RefundStatus.REQUESTED:
        raise RefundError("This refund is still being processed; please check again in a minute.")
    return refund


def _twin_refund(session: Session, key: str, payment: Payment, left: int) -> Refund:
    """A twin request with this key may have refunded it since we looked: its answer is this
    request's answer. Without one, the amount asked for is out of range."""
    session.rollback()
    refund = session.scalar(select(Refund).where(Refund.idempotency_key == key))
    if refund is None or refund.status is not RefundStatus.SUCCEEDED:
        raise RefundError(
            f"You can refund between 0.01 and {left / 100:.2f} {payment.currency} on this order."
        )
    return refund


def payment_state(payment: Payment) -> PaymentState:
    """What the shop knows of a payment, as the provider would report it."""
    return PaymentState(
        payment.provider_ref,
        payment.status,
        payment.amount_cents,
        payment.currency,
        payment.captured_cents,
        payment.refunded_cents,
        payment.capture_ref,
    )


def _restock_lines(
    session: Session, order_id: int, restock: Mapping[int, int]
) -> list[tuple[OrderLine, int]]:
    lines = []
    for line_id, quantity in restock.items():
        line = session.get(OrderLine, line_id)
        if line is None or line.order_id != order_id:
            raise RefundError("That item is not part of this order.")
        if quantity < 0 or quantity > line.quantity:
            raise RefundError(f"Return between 0 and {line.quantity} of {line.name}.")
        if quantity:
            lines.append((line, quantity))
    return lines


@unit_of_work
def apply_refund(
    session: Session,
    refund_id: int,
    *,
    actor: str = "system",
    links: orders.OrderLinks | None = None,
    now: datetime | None = None,
    also: Callable[[Session, Order], None] | None = None,
    also_variants: list[int] = (),
) -> None:
    """The order's side of a succeeded refund, once (``applied_at``), in one transaction: its
    units back in stock (movements referencing the order), its status, timeline, email and
    audit row; then ``also``. Safe to repeat, and what reconciliation calls for a refund the
    provider made that the order never recorded. Locks, in the one order: the order, its
    payment, every variant restocked (and ``also_variants``) together in id order, then
    whatever ``also`` needs after them (hold rows, a return), then the refund row."""
    now = clock.now(now)
    refund = session.get(Refund, refund_id)
    order = locks.lock_order(session, refund.order_id)
    payment = locks.lock_payment(session, refund.payment_id)
    lines = [
        (session.get(OrderLine, int(line_id)), int(q))
        for line_id, q in (refund.restock_lines or {}).items()
    ]
    locks.lock_variants(session, [line.variant_id for line, _q in lines] + list(also_variants))
    # The order's lock serialises everyone who applies this refund; the row is locked last.
    refund = session.get(Refund, refund_id, populate_existing=True)
    applying = refund.applied_at is None and refund.status is RefundStatus.SUCCEEDED
    if applying:
        _restock_refunded_lines(session, order, refund, lines, actor, now)
        _record_refund_on_order(session, order, payment, refund, lines, actor, links, now)
    if also is not None:
        also(session, order)
    if applying:
        locks.lock_leaf(session, Refund, refund_id).applied_at = now
    session.commit()


def _restock_refunded_lines(
    session: Session,
    order: Order,
    refund: Refund,
    lines: list[tuple[OrderLine, int]],
    actor: str,
    now: datetime,
) -> None:
    """The refunded units back in stock (movements referencing the order), variant by variant
    in id order."""
    for line, quantity in sorted(lines, key=lambda lq: lq[0].variant_id):
        inventory.adjust_stock(
            session,
            line.variant_id,
            quantity,
            reason=f"refund {refund.id}",
            kind=MovementReason.RETURN,
            reference=f"order:{order.number}",
            actor=actor,
            commit=False,
            now=now,
        )


def _record_refund_on_order(
    session: Session,
    order: Order,
    payment: Payment,
    refund: Refund,
    lines: list[tuple[OrderLine, int]],
    actor: str,
    links: orders.OrderLinks | None,
    now: datetime,
) -> None:
    """The order's status and timeline, the shopper's email and the audit row of a refund."""
    full = payment.refunded_cents >= payment.captured_cents
    if order.status is not OrderStatus.CANCELLED:
        orders.set_status(order, OrderStatus.REFUNDED if full else OrderStatus.PARTIALLY_REFUNDED)
    amount = f"{refund.amount_cents / 100:.2f} {refund.currency}"
    if refund.tax_cents:
        amount += f" (of which {refund.tax_cents / 100:.2f} tax)"
    orders.add_event(
        order, order.status, f"Refunded {amount}: {refund.reason} [refund {refund.id}]", now
    )
    if links is not None:
        notifications.refunded(
            session,
            order,
            link=links.link(order),
            amount_cents=refund.amount_cents,
            currency=refund.currency,
            reason=refund.reason,
            refund_id=refund.id,
            tax_cents=refund.tax_cents,
        )
    audit.record(
        session,
        "order.refunded",
        actor=actor,
        subject_type="order",
        subject_id=order.id,
        refund_id=refund.id,
        amount_cents=refund.amount_cents,
        tax_cents=refund.tax_cents,
        restocked={str(line.id): q for line, q in lines},
    )


# ---------------------------------------------------------------- at the provider


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
    units_tax_cents: int | None = None,
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
    answer = _Answer(status, error, ref, units_tax_cents)
    return _record_refund(session, refund.id, state, order_id, answer)


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


@dataclass(frozen=True)
class _Answer:
    status: RefundStatus
    error: str | None
    provider_refund_id: str | None
    units_tax_cents: int | None  # a return's tax, else None (see refund_tax)


@unit_of_work
def _record_refund(
    session: Session, refund_id: int, state: PaymentState, order_id: int | None, answer: _Answer
) -> Refund:
    """Record the provider's answer under the order's and the payment's locks. The payment
    counts a refund when its row first becomes ``succeeded``, never twice, and the refund's
    tax is fixed then (``refund_tax``: after every refund counted before it)."""
    refund = session.get(Refund, refund_id)
    if order_id is not None:
        locks.lock_order(session, order_id)
    payment = locks.lock_payment(session, refund.payment_id)
    refund = locks.lock_leaf(session, Refund, refund_id)
    if refund.status is RefundStatus.SUCCEEDED:
        session.commit()
        return refund
    status = answer.status
    refund.status, refund.error = status, answer.error
    refund.provider_refund_id = answer.provider_refund_id
    refund.updated_at = clock.utcnow()
    if status is RefundStatus.SUCCEEDED:
        if order_id is None:  # nothing else records it: no order, nothing to restock
            refund.applied_at = refund.updated_at
        else:
            order = session.get(Order, order_id)
            refund.tax_cents = refund_tax.tax_of_refund(
                session, order, refund, answer.units_tax_cents
            )
        payment.refunded_cents += refund.amount_cents
        payment.status = (
            PaymentStatus.REFUNDED
            if payment.refunded_cents >= state.captured_cents
            else PaymentStatus.PARTIALLY_REFUNDED
        )
    session.commit()
    return refund
