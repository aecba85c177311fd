"""The owner's emails, found by scanning the rows (one periodic job, ``app.jobs.owner_notices``;
``flask admin notices`` without Redis): new orders, variants that fell to their low-stock
threshold, webhooks and emails that failed for good, and yesterday's summary. Each goes to
every active owner through the outbox, and each switch in ``settings`` turns one kind off.

Nothing here is remembered but the emails themselves: each names its event in its dedupe key
(``owner-new-order-<order>-<owner>``, ``owner-daily-<day>-<owner>``), and the low-stock and
failure emails list the events (``refs``) they told of, so a later run tells only new ones.
A missed run loses nothing (each run looks back over a window) and a second run sends nothing
twice. A variant "falls" once per restock: its ref is the variant and its latest stock
increase, so it is told again only after it was restocked and fell again."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.models import (
    Order,
    OrderStatus,
    OutboxMessage,
    OutboxState,
    Product,
    Refund,
    RefundStatus,
    Role,
    StockMovement,
    User,
    Variant,
    WebhookEvent,
    WebhookState,
)
from app.money import format_money
from app.services.admin.settings import get_settings
from app.services.mail import owner_mail
from app.services.stock.inventory import stock_levels

NEW_ORDER_WINDOW = timedelta(days=2)
FAILURE_WINDOW = timedelta(days=7)
LOW_STOCK_MEMORY = timedelta(days=30)
SOLD = tuple(
    s for s in OrderStatus if s not in (OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED)
)


@dataclass
class NoticeReport:
    """How many emails this run queued, of each kind."""

    new_order: int = 0
    low_stock: int = 0
    failures: int = 0
    daily_summary: int = 0


@dataclass(frozen=True)
class Owner:
    id: int
    email: str


def send_owner_notices(
    session: Session, *, base_url: str, now: datetime | None = None
) -> NoticeReport:
    """Queue every owner email that is due and not yet queued, in one transaction."""
    now = clock.now(now)
    base = base_url.rstrip("/")
    report = NoticeReport()
    begin_write(session)
    switches = get_settings(session)
    owners = [
        Owner(uid, email)
        for uid, email in session.execute(
            select(User.id, User.email)
            .where(User.role == Role.OWNER, User.active.is_(True))
            .order_by(User.id)
        )
    ]
    if owners:
        low = _low_stock(session, now)
        if switches["notify_new_order"]:
            report.new_order = _new_orders(session, owners, base, now)
        if switches["notify_low_stock"]:
            report.low_stock = _told_low_stock(session, owners, low, base, now)
        if switches["notify_failures"]:
            report.failures = _failures(session, owners, base, now)
        if switches["daily_summary"]:
            report.daily_summary = _daily(session, owners, low, base, now)
    session.commit()
    return report


def _already(session: Session, prefix: str, since: datetime) -> set[str]:
    stmt = select(OutboxMessage.dedupe_key).where(
        OutboxMessage.dedupe_key.startswith(prefix), OutboxMessage.created_at >= since
    )
    return set(session.scalars(stmt))


def _new_orders(session: Session, owners: list[Owner], base: str, now: datetime) -> int:
    since = now - NEW_ORDER_WINDOW
    orders = session.scalars(
        select(Order).where(Order.created_at >= since, Order.status.in_(SOLD)).order_by(Order.id)
    ).all()
    sent = _already(session, "owner-new-order-", since - NEW_ORDER_WINDOW)
    queued = 0
    for order in orders:
        for owner in owners:
            if f"owner-new-order-{order.id}-{owner.id}" in sent:
                continue
            link = f"{base}/admin/orders/{order.number}"
            queued += (
                owner_mail.new_order(session, order, to=owner.email, owner_id=owner.id, link=link)
                is not None
            )
    return queued


def _told(session: Session, kind: str, owner: Owner, since: datetime) -> set[str]:
    """The refs this owner was already told of, in emails of ``kind`` since ``since``."""
    contexts = session.scalars(
        select(OutboxMessage.context).where(
            OutboxMessage.template == kind,
            OutboxMessage.to_address == owner.email,
            OutboxMessage.created_at >= since,
        )
    )
    return {ref for context in contexts for ref in context.get("refs", [])}


def _low_stock(session: Session, now: datetime) -> dict[str, dict[str, Any]]:
    """Variants of live products at or under their threshold, by ref (variant:restock)."""
    restocked = (
        select(StockMovement.variant_id, func.max(StockMovement.id).label("epoch"))
        .where(StockMovement.delta > 0)
        .group_by(StockMovement.variant_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Variant.id,
            Variant.sku,
            Variant.name,
            Product.name,
            Variant.low_stock_threshold,
            func.coalesce(restocked.c.epoch, 0),
        )
        .join(Product, Product.id == Variant.product_id)
        .outerjoin(restocked, restocked.c.variant_id == Variant.id)
        .where(Product.is_active.is_(True))
        .order_by(Variant.sku)
    ).all()
    available = {level.id: level.available for level in stock_levels(session, now=now)}
    low = {}
    for vid, sku, name, product, threshold, epoch in rows:
        if available.get(vid, 0) <= threshold:
            low[f"{vid}:{epoch}"] = {
                "sku": sku,
                "name": f"{product} {name}".strip(),
                "available": available.get(vid, 0),
                "threshold": threshold,
            }
    return low


def _told_low_stock(
    session: Session, owners: list[Owner], low: dict[str, dict[str, Any]], base: str, now: datetime
) -> int:
    queued = 0
    for owner in owners:
        new = sorted(set(low) - _told(session, "owner_low_stock", owner, now - LOW_STOCK_MEMORY))
        if new:
            queued += (
                owner_mail.low_stock(
                    session,
                    to=owner.email,
                    owner_id=owner.id,
                    refs=new,
                    variants=[low[ref] for ref in new],
                    link=f"{base}/admin/products",
                )
                is not None
            )
    return queued


def _failed(session: Session, since: datetime) -> dict[str, dict[str, Any]]:
    """Webhooks and emails (not the owner's own) that failed for good since ``since``."""
    failed: dict[str, dict[str, Any]] = {}
    webhooks = session.scalars(
        select(WebhookEvent).where(
            WebhookEvent.state == WebhookState.FAILED, WebhookEvent.received_at >= since
        )
    )
    for w in webhooks:
        detail = f"{w.provider} {w.kind}"
        failed[f"webhook:{w.id}"] = {
            "what": "webhook",
            "id": w.id,
            "detail": detail,
            "error": w.error or "",
        }
    emails = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.state == OutboxState.FAILED,
            OutboxMessage.created_at >= since,
            OutboxMessage.template.not_like("owner\\_%", escape="\\"),
        )
    )
    for m in emails:
        detail = f"{m.template} to {m.to_address}"
        failed[f"email:{m.id}"] = {
            "what": "email",
            "id": m.id,
            "detail": detail,
            "error": m.last_error or "",
        }
    return failed


def _failures(session: Session, owners: list[Owner], base: str, now: datetime) -> int:
    failed = _failed(session, now - FAILURE_WINDOW)
    queued = 0
    for owner in owners:
        told = _told(session, "owner_failures", owner, now - FAILURE_WINDOW - timedelta(days=1))
        new = sorted(set(failed) - told)
        if new:
            queued += (
                owner_mail.failures(
                    session,
                    to=owner.email,
                    owner_id=owner.id,
                    refs=new,
                    failed=[failed[ref] for ref in new],
                    link=f"{base}/admin",
                )
                is not None
            )
    return queued


def _money(sums: dict[str, int]) -> str:
    return ", ".join(format_money(cents, cur) for cur, cents in sorted(sums.items())) or "0"


def day_summary(session: Session, day: date, low: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One UTC day's orders, revenue (orders kept), refunds, and the variants low now."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    revenue: dict[str, int] = defaultdict(int)
    orders = 0
    for currency, total in session.execute(
        select(Order.currency, Order.total_cents).where(
            Order.created_at >= start, Order.created_at < end, Order.status.in_(SOLD)
        )
    ):
        orders += 1
        revenue[currency] += total
    refunds: dict[str, int] = defaultdict(int)
    refund_count = 0
    for currency, amount in session.execute(
        select(Refund.currency, Refund.amount_cents).where(
            Refund.created_at >= start,
            Refund.created_at < end,
            Refund.status.in_((RefundStatus.PENDING, RefundStatus.SUCCEEDED)),
        )
    ):
        refund_count += 1
        refunds[currency] += amount
    return {
        "orders": orders,
        "revenue": _money(revenue),
        "refund_count": refund_count,
        "refunds": _money(refunds),
        "low_stock": list(low.values()),
    }


def _daily(
    session: Session, owners: list[Owner], low: dict[str, dict[str, Any]], base: str, now: datetime
) -> int:
    """Yesterday's summary (UTC), once per owner; none for a day when nothing happened."""
    day = (now.astimezone(UTC) - timedelta(days=1)).date()
    summary = day_summary(session, day, low)
    if not (summary["orders"] or summary["refund_count"] or summary["low_stock"]):
        return 0
    queued = 0
    for owner in owners:
        queued += (
            owner_mail.daily_summary(
                session,
                to=owner.email,
                owner_id=owner.id,
                day=day.isoformat(),
                summary=summary,
                link=f"{base}/admin",
            )
            is not None
        )
    return queued
