"""The owner's emails, written into the outbox in the caller's transaction (nothing here
commits): a new order, variants at their low-stock threshold, things that keep failing,
the daily summary, and alerts opened and resolved (``owner_alert``). ``services.admin.notices``
(and ``services.ops.alerts`` for the alerts) decides who gets which and when; each email's
``dedupe_key`` names its event and its owner, so none is queued twice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.models import Order, OutboxMessage
from app.services.mail.notifications import digest, order_context, queue_email


def new_order(
    session: Session, order: Order, *, to: str, owner_id: int, link: str
) -> OutboxMessage | None:
    """An order came in (``link``: its page in the admin)."""
    context = {**order_context(order, link), "email": order.email}
    return queue_email(
        session,
        kind="owner_new_order",
        to=to,
        dedupe_key=f"owner-new-order-{order.id}-{owner_id}",
        context=context,
        subject=f"New order {order.number}: {context['total']}",
        order_id=order.id,
    )


def low_stock(
    session: Session,
    *,
    to: str,
    owner_id: int,
    refs: Sequence[str],
    variants: Sequence[dict[str, Any]],
    link: str,
) -> OutboxMessage | None:
    """Variants that fell to their low-stock threshold: ``refs`` name each fall (variant and
    the restock it fell from), ``variants`` hold sku, name, available and threshold."""
    return queue_email(
        session,
        kind="owner_low_stock",
        to=to,
        dedupe_key=f"owner-low-stock-{owner_id}-{digest(refs)}",
        context={"refs": sorted(refs), "variants": list(variants), "link": link},
        subject=f"Low stock: {len(variants)} variant{'' if len(variants) == 1 else 's'}",
    )


def failures(
    session: Session,
    *,
    to: str,
    owner_id: int,
    refs: Sequence[str],
    failed: Sequence[dict[str, Any]],
    link: str,
) -> OutboxMessage | None:
    """Webhooks or emails that failed for good: each ``{"what", "id", "detail", "error"}``."""
    return queue_email(
        session,
        kind="owner_failures",
        to=to,
        dedupe_key=f"owner-failures-{owner_id}-{digest(refs)}",
        context={"refs": sorted(refs), "failed": list(failed), "link": link},
        subject=f"{len(failed)} thing{'' if len(failed) == 1 else 's'} failed in your shop",
    )


def daily_summary(
    session: Session, *, to: str, owner_id: int, day: str, summary: dict[str, Any], link: str
) -> OutboxMessage | None:
    """The day's figures: orders, revenue, refunds (each formatted) and the low stock."""
    return queue_email(
        session,
        kind="owner_daily_summary",
        to=to,
        dedupe_key=f"owner-daily-{day}-{owner_id}",
        context={**summary, "day": day, "link": link},
        subject=f"Your shop on {day}: {summary['orders']} order"
        f"{'' if summary['orders'] == 1 else 's'}, {summary['revenue']}",
    )


def alert_subject(context: dict[str, Any]) -> str:
    """``Alert: <title>`` when it opened, ``Back to normal: <title>`` when it ended."""
    prefix = "Alert" if context["phase"] == "opened" else "Back to normal"
    return f"{prefix}: {context['title']}"


def owner_alert(
    session: Session, *, to: str, owner_id: int, alert_id: int, context: dict[str, Any]
) -> OutboxMessage | None:
    """An alert opened or was resolved (``services.ops.alerts``; the context comes from
    ``services.ops.alert_texts.email_context``): one email per alert, phase and owner."""
    return queue_email(
        session,
        kind="owner_alert",
        to=to,
        dedupe_key=f"owner-alert-{alert_id}-{context['phase']}-{owner_id}",
        context=context,
        subject=alert_subject(context),
    )
