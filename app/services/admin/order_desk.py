"""The owner's order desk: orders listed with filters, and one order's whole story.

``list_orders`` filters by status, by "to ship", by the day it was placed, and by a search on
the order number or the shopper's email; it pages on the server. ``timeline`` joins what
happened to one order from every table that saw it: the checkout's events, payments and
refunds, webhooks about its payments, emails, the order's own events and admin actions.
``withdraw_guest_links`` stops the links in the order's emails so far from opening it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from app import clock
from app.db import begin_write
from app.models import (
    AuditLog,
    CheckoutEvent,
    Order,
    OrderLine,
    OrderStatus,
    OutboxMessage,
    Payment,
    Product,
    ProductKind,
    Refund,
    Variant,
    WebhookEvent,
)
from app.money import format_money
from app.services import audit, locks
from app.services.admin.paging import paged
from app.services.catalog.browse import Page
from app.services.errors import NotFound
from app.services.orders import aftersales
from app.services.transactions import unit_of_work

PER_PAGE = 25
TO_SHIP = (OrderStatus.PAID, OrderStatus.PARTIALLY_FULFILLED)
WAITING = (OrderStatus.AWAITING_STOCK, OrderStatus.PARTIALLY_FULFILLED)


@dataclass(frozen=True)
class OrderFilter:
    status: OrderStatus | None = None
    to_ship: bool = False
    day: date | None = None
    q: str = ""
    waiting: bool = False  # paid and waiting for stock or keys (wholly or in part)


@dataclass(frozen=True)
class Entry:
    """One line of an order's timeline."""

    at: datetime
    source: str  # order, checkout, payment, refund, webhook, email, admin
    text: str
    amount_cents: int | None = None
    email_id: int | None = None  # an email's outbox row (the admin reads and resends it there)


def _to_ship_ids():
    return (
        select(OrderLine.order_id)
        .join(Variant, Variant.id == OrderLine.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(Product.kind == ProductKind.PHYSICAL, OrderLine.quantity_fulfilled > 0)
    )


def _where(filters: OrderFilter) -> list:
    where = []
    if filters.status is not None:
        where.append(Order.status == filters.status)
    if filters.to_ship:
        where += [Order.status.in_(TO_SHIP), Order.id.in_(_to_ship_ids())]
    if filters.waiting:
        where.append(Order.status.in_(WAITING))
    if filters.day is not None:
        start = datetime.combine(filters.day, time.min, tzinfo=UTC)
        where += [Order.created_at >= start, Order.created_at < start + timedelta(days=1)]
    q = filters.q.strip()
    if q:
        pattern = f"%{q.lower()}%"
        where.append(
            or_(func.lower(Order.number).like(pattern), func.lower(Order.email).like(pattern))
        )
    return where


def filter_clauses(filters: OrderFilter) -> list:
    """The where-clauses of ``filters`` on ``Order`` (the CSV export and the CLI use them)."""
    return _where(filters)


def list_orders(session: Session, filters: OrderFilter, page: int = 1) -> Page[Order]:
    stmt = select(Order).where(*_where(filters)).order_by(Order.created_at.desc(), Order.id.desc())
    return paged(session, stmt, page, PER_PAGE)


def get_order(session: Session, number: str) -> Order:
    order = session.scalar(
        select(Order)
        .where(Order.number == number)
        .options(selectinload(Order.lines), selectinload(Order.events))
    )
    if order is None:
        raise NotFound(f"No order {number}.")
    return order


def payments_of(session: Session, order: Order) -> list[Payment]:
    return list(
        session.scalars(
            select(Payment).where(Payment.checkout_id == order.checkout_id).order_by(Payment.id)
        )
    )


def timeline(session: Session, order: Order) -> list[Entry]:
    """Everything that happened to ``order``, oldest first."""
    payments = payments_of(session, order)
    entries = [Entry(e.created_at, "order", e.message or e.status) for e in order.events]
    entries += _checkout_entries(session, order)
    entries += _money_entries(session, payments)
    entries += _webhook_entries(session, [p.provider_ref for p in payments])
    entries += _email_and_admin_entries(session, order)
    return sorted(entries, key=lambda e: e.at)


def _checkout_entries(session: Session, order: Order) -> list[Entry]:
    events = session.scalars(
        select(CheckoutEvent).where(CheckoutEvent.checkout_id == order.checkout_id)
    )
    return [
        Entry(e.created_at, "checkout", f"{e.kind} ({e.phase}) {e.message}".strip()) for e in events
    ]


def _money_entries(session: Session, payments: list[Payment]) -> list[Entry]:
    entries = [
        Entry(
            p.created_at,
            "payment",
            f"{p.provider} payment {p.provider_ref}: {p.status}",
            p.amount_cents,
        )
        for p in payments
    ]
    refunds = session.scalars(select(Refund).where(Refund.payment_id.in_([p.id for p in payments])))
    entries += [
        Entry(
            r.created_at,
            "refund",
            f"refund ({r.reason}) by {r.actor}: {r.status}{_tax(r)}",
            r.amount_cents,
        )
        for r in refunds
    ]
    return entries


def _tax(refund: Refund) -> str:
    if not refund.tax_cents:
        return ""
    return f", of which {format_money(refund.tax_cents, refund.currency)} tax"


def refunds_of(session: Session, order: Order) -> list[Refund]:
    """The order's refunds, oldest first (each with the tax it returned)."""
    return list(
        session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.id))
    )


def _webhook_entries(session: Session, provider_refs: list[str]) -> list[Entry]:
    events = session.scalars(
        select(WebhookEvent).where(WebhookEvent.provider_ref.in_(provider_refs))
    )
    return [
        Entry(
            w.received_at,
            "webhook",
            f"{w.provider} {w.kind} ({w.event_id}): {w.state}"
            + (f" — {w.error}" if w.error else ""),
        )
        for w in events
    ]


def _email_and_admin_entries(session: Session, order: Order) -> list[Entry]:
    emails = session.scalars(select(OutboxMessage).where(OutboxMessage.order_id == order.id))
    entries = [
        Entry(m.created_at, "email", f"“{m.subject}” to {m.to_address}: {m.state}", email_id=m.id)
        for m in emails
    ]
    actions = session.scalars(
        select(AuditLog).where(AuditLog.subject_type == "order", AuditLog.subject_id == order.id)
    )
    entries += [Entry(a.created_at, "admin", f"{a.action} by {a.actor}") for a in actions]
    return entries


def note_action(session: Session, order: Order, action: str, actor: str, **details) -> None:
    """An admin action that changed no order row itself still leaves its audit row."""
    begin_write(session)
    audit.record(session, action, actor=actor, subject_type="order", subject_id=order.id, **details)
    session.commit()


@unit_of_work
def withdraw_guest_links(
    session: Session, number: str, *, actor: str, now: datetime | None = None
) -> Order:
    """Links in the order's emails so far no longer open it (``Order.guest_links_since``);
    its account and the browser that checked it out still do, and the shopper can ask for
    a new link (``/orders/link``), which goes to the order's email only."""
    now = clock.now(now)
    begin_write(session)
    order_id = session.scalar(select(Order.id).where(Order.number == number))
    order = locks.lock_order(session, order_id) if order_id is not None else None
    if order is None:
        session.rollback()
        raise NotFound(f"No order {number}.")
    before = order.guest_links_since
    order.guest_links_since = now
    audit.record(
        session,
        "order.guest_links_withdrawn",
        actor=actor,
        subject_type="order",
        subject_id=order.id,
        before=before.isoformat() if before else None,
        after=now.isoformat(),
    )
    session.commit()
    return order


@dataclass(frozen=True)
class Actions:
    """What can be done to an order now (the page offers only these)."""

    ship: bool
    cancel: bool
    retry: bool
    refundable_cents: int


def actions_for(session: Session, order: Order) -> Actions:
    payments = payments_of(session, order)
    return Actions(
        ship=aftersales.can_ship(order),
        cancel=aftersales.can_cancel(session, order),
        retry=order.status in WAITING or order.status is OrderStatus.PAID,
        refundable_cents=sum(max(0, p.captured_cents - p.refunded_cents) for p in payments),
    )
