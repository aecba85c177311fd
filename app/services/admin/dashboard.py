"""The dashboard: what needs the owner today (each a count with the list it opens), then the
shop's figures for today and the last 30 days against the 30 before.

Read only. Every figure is computed from the rows at the moment asked, with aggregate queries
(no row is loaded per order), so the page stays fast with a year of orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from app import clock
from app.models import (
    HoldState,
    Order,
    OrderLine,
    OrderStatus,
    OutboxMessage,
    OutboxState,
    Payment,
    Product,
    ProductKind,
    Reservation,
    Return,
    ReturnState,
    Variant,
    WebhookEvent,
    WebhookState,
)
from app.services.admin.order_desk import WAITING
from app.services.admin.payments_desk import unsettled_where
from app.services.admin.stock_desk import stock_list
from app.services.checkout.monitor import checkout_summary

# Orders whose money the shop keeps (a refunded or cancelled order is not a sale).
SOLD = tuple(
    s for s in OrderStatus if s not in (OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED)
)


@dataclass(frozen=True)
class Todo:
    """One thing that needs the owner: how many, and which list shows them."""

    key: str
    label: str
    count: int


@dataclass(frozen=True)
class Figures:
    """Sales over one period: revenue net of refunds, orders, average order value."""

    revenue_cents: int
    orders: int

    @property
    def average_cents(self) -> int:
        return self.revenue_cents // self.orders if self.orders else 0


@dataclass(frozen=True)
class Dashboard:
    currency: str
    todos: list[Todo]
    today: Figures
    last_30: Figures
    previous_30: Figures
    daily: list[tuple[str, int]]  # (YYYY-MM-DD, revenue cents) for each of the last 30 days
    top_products: list[tuple[str, int]]  # (product name, units sold in 30 days)
    live_holds: int
    expired_holds: int
    checkout_success_rate: float | None
    checkouts_started: int


def orders_to_ship(session: Session) -> int:
    """Paid orders with physical units set aside and not yet shipped."""
    physical = (
        select(OrderLine.order_id)
        .join(Variant, Variant.id == OrderLine.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(Product.kind == ProductKind.PHYSICAL, OrderLine.quantity_fulfilled > 0)
    )
    return session.scalar(
        select(func.count())
        .select_from(Order)
        .where(
            Order.status.in_((OrderStatus.PAID, OrderStatus.PARTIALLY_FULFILLED)),
            Order.id.in_(physical),
        )
    )


def _count(session: Session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def todos(session: Session, now: datetime) -> list[Todo]:
    low = stock_list(session, low_only=True, now=now)
    return [
        Todo("to_ship", "Orders to ship", orders_to_ship(session)),
        Todo(
            "unsettled",
            "Payments not settled",
            _count(session, Payment, *unsettled_where(now)),
        ),
        Todo(
            "returns",
            "Returns to decide",
            _count(session, Return, Return.state == ReturnState.REQUESTED),
        ),
        Todo(
            "awaiting_stock",
            "Orders waiting for stock or keys",
            _count(session, Order, Order.status.in_(WAITING)),
        ),
        Todo("low_stock", "Variants low or out of stock", len(low)),
        Todo(
            "failed_webhooks",
            "Webhooks that failed",
            _count(session, WebhookEvent, WebhookEvent.state == WebhookState.FAILED),
        ),
        Todo(
            "failed_emails",
            "Emails that failed",
            _count(session, OutboxMessage, OutboxMessage.state == OutboxState.FAILED),
        ),
    ]


def figures(session: Session, since: datetime, until: datetime) -> Figures:
    revenue, count = session.execute(
        select(
            func.coalesce(func.sum(Payment.captured_cents - Payment.refunded_cents), 0),
            func.count(func.distinct(Order.id)),
        )
        .select_from(Order)
        .join(Payment, and_(Payment.order_id == Order.id, Payment.captured_cents > 0))
        .where(Order.status.in_(SOLD), Order.paid_at >= since, Order.paid_at < until)
    ).one()
    return Figures(int(revenue), int(count))


def daily_revenue(session: Session, now: datetime, days: int = 30) -> list[tuple[str, int]]:
    start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = session.execute(
        select(Order.paid_at, Payment.captured_cents - Payment.refunded_cents)
        .join(Payment, and_(Payment.order_id == Order.id, Payment.captured_cents > 0))
        .where(Order.status.in_(SOLD), Order.paid_at >= start)
    ).all()
    totals: dict[str, int] = {}
    for paid_at, cents in rows:
        day = paid_at.date().isoformat()
        totals[day] = totals.get(day, 0) + int(cents)
    days_shown = [(start + timedelta(days=n)).date().isoformat() for n in range(days)]
    return [(day, totals.get(day, 0)) for day in days_shown]


def top_products(session: Session, since: datetime, limit: int = 5) -> list[tuple[str, int]]:
    units = func.sum(OrderLine.quantity)
    rows = session.execute(
        select(Product.name, units)
        .select_from(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Variant, Variant.id == OrderLine.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(Order.status.in_(SOLD), Order.paid_at >= since)
        .group_by(Product.name)
        .order_by(units.desc(), Product.name)
        .limit(limit)
    ).all()
    return [(name, int(n)) for name, n in rows]


def hold_counts(session: Session, now: datetime) -> tuple[int, int]:
    """(live, expired-but-not-swept-or-swept) hold rows, as of ``now``."""
    live = case(
        (and_(Reservation.state == HoldState.ACTIVE, Reservation.expires_at > now), 1), else_=0
    )
    expired = case(
        (
            (Reservation.state == HoldState.EXPIRED)
            | and_(Reservation.state == HoldState.ACTIVE, Reservation.expires_at <= now),
            1,
        ),
        else_=0,
    )
    row = session.execute(
        select(func.coalesce(func.sum(live), 0), func.coalesce(func.sum(expired), 0))
    ).one()
    return int(row[0]), int(row[1])


def dashboard(session: Session, currency: str, now: datetime | None = None) -> Dashboard:
    now = clock.now(now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_ago = now - timedelta(days=30)
    live, expired = hold_counts(session, now)
    checkouts = checkout_summary(session, hours=24 * 30, now=now)
    return Dashboard(
        currency=currency,
        todos=todos(session, now),
        today=figures(session, midnight, now + timedelta(seconds=1)),
        last_30=figures(session, month_ago, now + timedelta(seconds=1)),
        previous_30=figures(session, month_ago - timedelta(days=30), month_ago),
        daily=daily_revenue(session, now),
        top_products=top_products(session, month_ago),
        live_holds=live,
        expired_holds=expired,
        checkout_success_rate=checkouts.success_rate,
        checkouts_started=checkouts.started,
    )
