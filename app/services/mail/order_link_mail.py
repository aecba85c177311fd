"""The "here is a new link to your order" email (kind ``order_link``), asked for on
``/orders/link`` or from the page of a link that expired or was withdrawn
(``services.orders.order_book.send_new_link`` finds the order and checks the email).

The link is a secret: ``notifications.SECRET_FIELDS`` erases it from the stored context once
sent, and the outbox never sends it after the link itself expired (``expires_at``). At most
one per order per ``WINDOW``: asking again sooner sends nothing more."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.models import Order, OutboxMessage
from app.services.mail import notifications

KIND = "order_link"
WINDOW = timedelta(minutes=10)


def queue_order_link(
    session: Session, order: Order, *, link: str, days: int, now: datetime | None = None
) -> OutboxMessage | None:
    """Queue the email in the caller's transaction (which should hold the order's lock, so two
    requests at once queue one). ``None`` when one was queued in the last ``WINDOW``."""
    now = clock.now(now)
    recent = session.scalar(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.order_id == order.id,
            OutboxMessage.template == KIND,
            OutboxMessage.created_at > now - WINDOW,
        )
        .limit(1)
    )
    if recent is not None:
        return None
    window = int(now.timestamp() // WINDOW.total_seconds())
    return notifications.queue_email(
        session,
        kind=KIND,
        to=order.email,
        dedupe_key=f"order-link:{order.id}:{window}",
        context={
            "order_number": order.number,
            "order_link": link,
            "customer_name": order.full_name,
            "link_days": days,
            "expires_at": (now + timedelta(days=days)).isoformat(),
        },
        subject=f"Your link to order {order.number}",
        order_id=order.id,
        now=now,
    )
