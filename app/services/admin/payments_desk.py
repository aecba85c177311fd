"""Payments that have not settled: created with a provider, not captured, failed or voided
after a while. Reconciliation asks the provider about them (``services/payments/reconcile``);
this list lets the owner see them meanwhile, with the shopper's email and the order if any."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.models import Checkout, Order, Payment, PaymentStatus
from app.services.admin.paging import paged
from app.services.catalog.browse import Page

# A payment still waiting after this long is worth a look.
UNSETTLED_AFTER = timedelta(minutes=30)
UNSETTLED = (PaymentStatus.PENDING, PaymentStatus.AUTHORIZED)


def unsettled_where(now: datetime) -> list:
    return [Payment.status.in_(UNSETTLED), Payment.created_at < now - UNSETTLED_AFTER]


def unsettled_payments(session: Session, page: int = 1, now: datetime | None = None) -> Page:
    """Rows of (payment, shopper's email, order number or None), oldest first."""
    now = clock.now(now)
    stmt = select(Payment).where(*unsettled_where(now)).order_by(Payment.created_at, Payment.id)
    found = paged(session, stmt, page)
    checkouts = {
        c.id: c.email
        for c in session.scalars(
            select(Checkout).where(Checkout.id.in_([p.checkout_id for p in found.items]))
        )
    }
    numbers = dict(
        session.execute(
            select(Order.checkout_id, Order.number).where(
                Order.checkout_id.in_([p.checkout_id for p in found.items])
            )
        ).all()
    )
    rows = [(p, checkouts.get(p.checkout_id, ""), numbers.get(p.checkout_id)) for p in found.items]
    return Page(rows, found.page, found.per_page, found.total)
