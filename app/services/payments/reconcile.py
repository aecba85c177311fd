"""Reconciliation: what was left half-done is finished from the database, whatever went missing
in between (a webhook, a job, a worker, Redis, a response from a provider).

``reconcile`` runs every pass; each is safe to repeat and to run beside the shop:

- **payments** — ask the provider again about every payment that may hide money without an
  order: pending or authorized for longer than ``older_than``; captured (as our table says)
  with no live order and not refunded; failed or voided in the last day (a capture that timed
  out may have happened after all); and checkouts left mid-completion. The provider's answer
  wins: the order is made, or the money refunded (``services.completion``).
- **webhooks** — events still ``received`` a few minutes after they arrived (their job was lost,
  or completion was busy elsewhere then), and ``failed`` ones with attempts left, are processed
  again.
- **refunds** — a refund the provider made that its order never recorded is applied (a
  cancellation finishes cancelling, a return is marked received); a refund of a payment that
  has no live order and failed at the provider is asked again with the same key.

What cannot be repaired here (more refunded than captured, say) ``flask holdfast verify``
names for the owner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app import clock
from app.models import (
    Checkout,
    CheckoutState,
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    Return,
    WebhookEvent,
    WebhookState,
)
from app.providers.base import PaymentProvider, ProviderError
from app.services.errors import DomainError
from app.services.orders import aborts, aftersales, completion, refunds
from app.services.orders.order_book import OrderLinks
from app.services.payments import authorize as payments
from app.services.transactions import TransientDatabaseError

log = logging.getLogger("holdfast.reconcile")

WEBHOOK_GRACE = timedelta(minutes=2)  # a new event is its own job's to process first
WEBHOOK_MAX_ATTEMPTS = 8
REFUND_GRACE = timedelta(minutes=2)  # a refund being applied right now is left to its caller
FAILED_PAYMENT_WINDOW = timedelta(days=1)
DEAD_ORDER = (None, OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED)
BATCH = 200


@dataclass
class ReconcileReport:
    checked: int = 0
    completed: int = 0
    failed: int = 0
    pending: int = 0
    errors: int = 0
    webhooks: int = 0
    refunds_applied: int = 0
    refunds_retried: int = 0
    problems: list[str] = field(default_factory=list)


Providers = Callable[[str], PaymentProvider]


# ---------------------------------------------------------------- payments


def payments_to_reconcile(
    session: Session, older_than: timedelta, now: datetime, limit: int = BATCH
) -> list[tuple[int, str, str]]:
    """(id, provider, provider_ref) of every payment whose provider should be asked again."""
    P = Payment
    fields = (P.id, P.provider, P.provider_ref)
    unsettled = select(*fields).where(
        P.status.in_([PaymentStatus.PENDING, PaymentStatus.AUTHORIZED]),
        P.created_at <= now - older_than,
    )
    stuck = (
        select(*fields)
        .join(Checkout, Checkout.id == P.checkout_id)
        .where(
            Checkout.state == CheckoutState.COMPLETING,
            Checkout.updated_at <= now - completion.CLAIM_STALE_AFTER,
            P.order_id.is_not(None),
        )
    )
    captured_orphans = (
        select(*fields)
        .outerjoin(Order, Order.id == P.order_id)
        .where(
            P.captured_cents > P.refunded_cents,
            or_(
                P.order_id.is_(None),
                Order.status.in_([OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED]),
            ),
            P.updated_at <= now - completion.CLAIM_STALE_AFTER,
        )
    )
    maybe_captured = select(*fields).where(
        P.status.in_([PaymentStatus.FAILED, PaymentStatus.VOIDED]),
        P.created_at >= now - FAILED_PAYMENT_WINDOW,
        P.updated_at <= now - older_than,
    )
    rows = session.execute(
        unsettled.union(stuck, captured_orphans, maybe_captured).limit(limit)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def _reconcile_payments(session, providers, older_than, links, now, report) -> None:
    targets = payments_to_reconcile(session, older_than, now)
    session.rollback()
    report.checked += len(targets)
    for _payment_id, name, ref in targets:
        try:
            result = completion.complete_payment(
                session, providers(name), ref, source="reconcile", links=links, now=now
            )
        except (ProviderError, TransientDatabaseError) as exc:
            session.rollback()
            report.errors += 1
            log.warning("reconcile: %s payment %s: %s", name, ref, exc)
            continue
        key = {"completed": "completed", "failed": "failed", "refunded": "failed"}.get(
            result.outcome, "pending"
        )
        setattr(report, key, getattr(report, key) + 1)


# ---------------------------------------------------------------- webhooks


def webhooks_to_process(session: Session, now: datetime, limit: int = BATCH) -> list[int]:
    return list(
        session.scalars(
            select(WebhookEvent.id)
            .where(
                or_(
                    WebhookEvent.state == WebhookState.RECEIVED,
                    (WebhookEvent.state == WebhookState.FAILED)
                    & (WebhookEvent.attempts < WEBHOOK_MAX_ATTEMPTS),
                ),
                WebhookEvent.received_at <= now - WEBHOOK_GRACE,
            )
            .order_by(WebhookEvent.received_at)
            .limit(limit)
        )
    )


def _reconcile_webhooks(session, providers, links, now, report) -> None:
    ids = webhooks_to_process(session, now)
    names = dict(
        session.execute(
            select(WebhookEvent.id, WebhookEvent.provider).where(WebhookEvent.id.in_(ids))
        ).all()
    )
    session.rollback()
    for webhook_id in ids:
        try:
            payments.process_webhook(
                session, webhook_id, providers(names[webhook_id]), links=links, now=now
            )
            report.webhooks += 1
        except (ProviderError, TransientDatabaseError) as exc:
            session.rollback()
            report.errors += 1
            log.warning("reconcile: webhook %s: %s", webhook_id, exc)


# ---------------------------------------------------------------- refunds


def _unapplied_refunds(session: Session, now: datetime) -> list[Refund]:
    return list(
        session.scalars(
            select(Refund)
            .where(
                Refund.status == RefundStatus.SUCCEEDED,
                Refund.applied_at.is_(None),
                Refund.order_id.is_not(None),
                Refund.created_at <= now - REFUND_GRACE,
            )
            .order_by(Refund.id)
            .limit(BATCH)
        )
    )


def _apply(
    session: Session, providers: Providers, refund: Refund, links: OrderLinks, now: datetime
) -> None:
    """Finish what the refund was for: a cancellation, a return, or a plain refund."""
    key = refund.idempotency_key
    order = session.get(Order, refund.order_id)
    if key.startswith("abort-"):
        aborts.finish_abort(session, refund.id, now=now)
    elif key == aftersales.cancel_key(order):
        aftersales.cancel_order(
            session,
            providers,
            order.number,
            actor="reconcile",
            links=links,
            reason=refund.reason,
            now=now,
        )
    elif (
        key.startswith("return-")
        and key[7:].isdigit()
        and session.get(Return, int(key[7:])) is not None
    ):
        aftersales.receive_return(
            session, providers, int(key[7:]), actor="reconcile", links=links, now=now
        )
    else:
        refunds.apply_refund(session, refund.id, actor="reconcile", links=links, now=now)


def _failed_orphan_refunds(session: Session, now: datetime) -> list[Refund]:
    """Refunds of money that has no live order, which the provider failed: the money must go
    back, so the provider is asked again (same key: never twice)."""
    return list(
        session.scalars(
            select(Refund)
            .join(Payment, Payment.id == Refund.payment_id)
            .outerjoin(Order, Order.id == Payment.order_id)
            .where(
                Refund.status == RefundStatus.FAILED,
                Payment.captured_cents > Payment.refunded_cents,
                or_(
                    Payment.order_id.is_(None),
                    Order.status.in_([OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED]),
                ),
                or_(Refund.updated_at.is_(None), Refund.updated_at <= now - REFUND_GRACE),
            )
            .order_by(Refund.id)
            .limit(BATCH)
        )
    )


def _reconcile_refunds(session, providers, links, now, report) -> None:
    for refund in _failed_orphan_refunds(session, now):
        payment = session.get(Payment, refund.payment_id)
        state = refunds.payment_state(payment)
        try:
            result = refunds.refund_through_provider(
                session,
                providers(payment.provider),
                payment.id,
                state,
                refund.amount_cents,
                refund.idempotency_key,
                refund.reason,
                order_id=refund.order_id,
                actor="reconcile",
            )
        except (ProviderError, TransientDatabaseError) as exc:
            session.rollback()
            report.errors += 1
            log.warning("reconcile: refund %s: %s", refund.id, exc)
            continue
        report.refunds_retried += 1
        if result.status is not RefundStatus.SUCCEEDED:
            report.problems.append(f"refund {refund.id} is still {result.status.value}")
    session.rollback()
    for refund in _unapplied_refunds(session, now):  # including those just retried
        try:
            _apply(session, providers, refund, links, now)
            report.refunds_applied += 1
        except (DomainError, ProviderError) as exc:
            session.rollback()
            report.problems.append(f"refund {refund.id}: {exc}")


# ---------------------------------------------------------------- everything


def reconcile(
    session: Session,
    providers: Providers,
    older_than: timedelta,
    *,
    links: OrderLinks,
    now: datetime | None = None,
) -> ReconcileReport:
    """Every pass, in order: payments, webhooks, refunds. Returns what each did."""
    now = clock.now(now)
    report = ReconcileReport()
    _reconcile_payments(session, providers, older_than, links, now, report)
    _reconcile_webhooks(session, providers, links, now, report)
    _reconcile_refunds(session, providers, links, now, report)
    session.rollback()
    return report
