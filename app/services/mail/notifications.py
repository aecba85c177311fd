"""Writing emails into the outbox, inside the caller's transaction.

The promise: an email exists exactly when the change it reports committed. Services call these
functions inside THEIR write transaction (after ``begin_write``); nothing here commits. Each
email has a ``dedupe_key`` derived from the event, so a retried transaction, a second webhook or
a job that runs twice never queues a second email: the second call returns ``None``.

The context stored with each email holds everything needed to render it (items, prices, links),
so sending never reads the order again. Callers pass links in (``order_url(base_url, number)``
with ``SHOP_BASE_URL``): nothing here knows about a request. After the commit, call
``app.jobs.dispatch_outbox(config)`` to have the outbox sent; each queued email also sets
``session.info["outbox_queued"]`` so a session's owner can do that when it closes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.models import Order, OutboxMessage, OutboxState
from app.money import format_money
from app.services.orders import price_view

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "email"

# Context fields that are secrets: erased from the stored context once the email is sent.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "password_reset": ("reset_link",),
    "staff_invite": ("invite_link",),
    "email_confirmation": ("confirm_link",),
    "order_link": ("order_link",),
}

KINDS = (
    "order_confirmed",
    "keys_delivered",
    "awaiting_stock",
    "shipped",
    "refunded",
    "return_received",
    "return_refused",
    "checkout_reminder",
    "late_payment_refunded",
    "password_reset",
    "staff_invite",
    "email_confirmation",  # services/mail/account_mail.py
    "registration_attempt",  # services/mail/account_mail.py
    "order_link",  # services/mail/order_link_mail.py
    "owner_new_order",
    "owner_low_stock",
    "owner_failures",
    "owner_daily_summary",
    "owner_alert",  # services/ops/alerts.py
)


def order_url(base_url: str, number: str) -> str:
    """The absolute link to an order's page (``SHOP_BASE_URL`` + ``/orders/<number>``)."""
    return f"{base_url.rstrip('/')}/orders/{number}"


def digest(values: Iterable[Any]) -> str:
    """A short stable hash of event details, for dedupe keys that must not carry secrets."""
    raw = json.dumps(sorted(json.dumps(v, sort_keys=True) for v in values))
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def queue_email(
    session: Session,
    *,
    kind: str,
    to: str,
    dedupe_key: str,
    context: dict[str, Any],
    subject: str | None = None,
    order_id: int | None = None,
    now: datetime | None = None,
) -> OutboxMessage | None:
    """Add one email to the outbox in the caller's transaction (added and flushed, not
    committed). Returns ``None`` when an email with ``dedupe_key`` already exists.

    The insert runs in a savepoint, so a concurrent duplicate (the unique key) rolls back only
    the savepoint and leaves the caller's transaction usable, on SQLite and Postgres alike."""
    if kind not in KINDS:
        raise ValueError(f"unknown email kind {kind!r}")
    if not to or "@" not in to:
        raise ValueError(f"not an email address: {to!r}")
    if len(dedupe_key) > 200:
        raise ValueError("dedupe_key is longer than 200 characters; hash the details")
    if not session.in_transaction():
        begin_write(session)
    if _exists(session, dedupe_key):
        return None
    now = clock.now(now)
    message = OutboxMessage(
        dedupe_key=dedupe_key,
        template=kind,
        to_address=to.strip(),
        subject=(subject or kind.replace("_", " ").capitalize())[:300],
        context=json.loads(json.dumps(context)),  # a detached, JSON-clean copy
        order_id=order_id,
        state=OutboxState.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        if _exists(session, dedupe_key):
            return None  # queued by a concurrent transaction that committed first
        raise
    # Tells whoever ends the session (the request/CLI teardown) to ``dispatch_outbox`` after
    # the commit. Harmless after a rollback: dispatch then finds nothing due.
    session.info["outbox_queued"] = True
    return message


def _exists(session: Session, dedupe_key: str) -> bool:
    found = session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key))
    return found is not None


# ---------------------------------------------------------------- context


def order_context(order: Order, link: str) -> dict[str, Any]:
    """What every order email shows: the number, the items with their prices, discounts and
    tax, the totals block (``price_view``: subtotal, discount, shipping, tax, total), the
    link."""
    prices = price_view.for_order(order)
    return {
        "order_number": order.number,
        "order_link": link,
        "customer_name": order.full_name,
        "currency": order.currency,
        "total_cents": order.total_cents,
        "total": format_money(order.total_cents, order.currency),
        "items": [line.as_dict() for line in prices.lines],
        "totals": prices.as_context()["rows"],
        "prices_include_tax": order.prices_include_tax,
        "tax_cents": order.tax_cents,
    }


def _queue_for_order(
    session: Session,
    order: Order,
    kind: str,
    key: str,
    subject: str,
    link: str,
    **extra: Any,
) -> OutboxMessage | None:
    context = {**order_context(order, link), **extra}
    return queue_email(
        session,
        kind=kind,
        to=order.email,
        dedupe_key=key,
        context=context,
        subject=subject,
        order_id=order.id,
    )


# ---------------------------------------------------------------- one helper per email


def order_confirmed(session: Session, order: Order, *, link: str) -> OutboxMessage | None:
    """Payment captured, order placed."""
    return _queue_for_order(
        session,
        order,
        "order_confirmed",
        f"order-confirmed:{order.id}",
        f"Order {order.number} confirmed",
        link,
    )


def keys_delivered(
    session: Session,
    order: Order,
    keys: Sequence[tuple[str, str]],
    *,
    link: str,
    complete: bool,
    first: bool,
) -> OutboxMessage | None:
    """License keys, as ``(line name, code)``. ``complete``: nothing is left to deliver;
    ``first``: the first keys of this order (otherwise: more keys)."""
    if not keys:
        raise ValueError("keys_delivered needs at least one key")
    if complete:
        subject = (
            f"Your keys for order {order.number}"
            if first
            else f"The rest of your keys for order {order.number}"
        )
    else:
        subject = (
            f"Your first keys for order {order.number}; the rest are coming"
            if first
            else f"More keys for order {order.number}"
        )
    key = f"keys:{order.id}:{digest(code for _name, code in keys)}"
    return _queue_for_order(
        session,
        order,
        "keys_delivered",
        key,
        subject,
        link,
        keys=[{"name": name, "code": code} for name, code in keys],
        complete=complete,
        first=first,
    )


def awaiting_stock(
    session: Session, order: Order, *, link: str, waiting: Sequence[tuple[str, int]]
) -> OutboxMessage | None:
    """Paid, but some items wait for stock or keys: ``(line name, quantity still owed)``."""
    key = f"awaiting-stock:{order.id}:{digest(list(w) for w in waiting)}"
    return _queue_for_order(
        session,
        order,
        "awaiting_stock",
        key,
        f"Order {order.number}: some items are on their way to us",
        link,
        waiting=[{"name": name, "quantity": quantity} for name, quantity in waiting],
    )


def shipped(
    session: Session, order: Order, *, link: str, carrier: str, tracking: str
) -> OutboxMessage | None:
    """Handed to the carrier, with its tracking number (one email per tracking number)."""
    return _queue_for_order(
        session,
        order,
        "shipped",
        f"shipped:{order.id}:{carrier}:{tracking}",
        f"Order {order.number} has shipped",
        link,
        carrier=carrier,
        tracking=tracking,
    )


def refunded(
    session: Session,
    order: Order,
    *,
    link: str,
    amount_cents: int,
    currency: str,
    reason: str,
    refund_id: int | str,
    tax_cents: int = 0,
) -> OutboxMessage | None:
    """A refund, full or partial, went through (one email per refund); ``tax_cents``: the
    tax it returned (said as "of which $X tax")."""
    return _queue_for_order(
        session,
        order,
        "refunded",
        f"refund:{refund_id}",
        f"Refund of {format_money(amount_cents, currency)} for order {order.number}",
        link,
        amount_cents=amount_cents,
        amount=format_money(amount_cents, currency),
        refund_currency=currency,
        refund_tax_cents=tax_cents,
        refund_tax=format_money(tax_cents, currency) if tax_cents else "",
        reason=reason,
        refund_id=str(refund_id),
    )


def return_received(
    session: Session,
    order: Order,
    *,
    link: str,
    lines: Sequence[tuple[str, int]],
    return_id: int | str | None = None,
) -> OutboxMessage | None:
    """Returned items arrived: ``(line name, quantity)``. Pass ``return_id`` when an order can
    have several returns of the same items."""
    event = str(return_id) if return_id is not None else digest(list(line) for line in lines)
    return _queue_for_order(
        session,
        order,
        "return_received",
        f"return-received:{order.id}:{event}",
        f"We received your return for order {order.number}",
        link,
        returned=[{"name": name, "quantity": quantity} for name, quantity in lines],
    )


def return_refused(
    session: Session,
    order: Order,
    *,
    link: str,
    lines: Sequence[tuple[str, int]],
    reason: str,
    return_id: int,
) -> OutboxMessage | None:
    """The shop declined a return request (``(line name, quantity)``), and says why."""
    return _queue_for_order(
        session,
        order,
        "return_refused",
        f"return-refused:{order.id}:{return_id}",
        f"About your return for order {order.number}",
        link,
        refused=[{"name": name, "quantity": quantity} for name, quantity in lines],
        reason=reason,
    )


def checkout_reminder(
    session: Session,
    *,
    to: str,
    checkout_ref: str,
    items: Sequence[tuple[str, int]],
    link: str,
) -> OutboxMessage | None:
    """A reminder to a shopper whose checkout expired or failed: what they wanted and a link
    back to the shop. One per checkout."""
    return queue_email(
        session,
        kind="checkout_reminder",
        to=to,
        dedupe_key=f"checkout-reminder:{checkout_ref}",
        context={
            "checkout_ref": checkout_ref,
            "link": link,
            "items": [{"name": name, "quantity": quantity} for name, quantity in items],
        },
        subject="You left something in your cart",
    )


def late_payment_refunded(
    session: Session,
    *,
    to: str,
    checkout_ref: str,
    amount_cents: int,
    currency: str,
    reason: str,
    items: Sequence[tuple[str, int]] = (),
    link: str | None = None,
    payment_ref: str | None = None,
) -> OutboxMessage | None:
    """A payment arrived for a checkout that could no longer become an order, and was refunded.
    ``items`` (name, quantity) are what the shopper tried to buy; ``link`` (e.g. the shop)
    is optional; ``payment_ref`` tells apart several refunded payments of one checkout."""
    key = f"late-payment-refund:{checkout_ref}" + (f":{payment_ref}" if payment_ref else "")
    context = {
        "checkout_ref": checkout_ref,
        "amount_cents": amount_cents,
        "amount": format_money(amount_cents, currency),
        "refund_currency": currency,
        "reason": reason,
        "link": link,
        "items": [{"name": name, "quantity": quantity} for name, quantity in items],
    }
    return queue_email(
        session,
        kind="late_payment_refunded",
        to=to,
        dedupe_key=key,
        context=context,
        subject="Your payment was refunded",
    )


def password_reset(
    session: Session,
    *,
    to: str,
    reset_link: str,
    expires_minutes: int,
    user_id: int,
    now: datetime | None = None,
) -> OutboxMessage | None:
    """A password reset link. The link is a secret: the mailer erases it from the stored
    context once sent, and never sends it after it expired."""
    now = clock.now(now)
    context = {
        "reset_link": reset_link,
        "expires_minutes": expires_minutes,
        "expires_at": (now + timedelta(minutes=expires_minutes)).isoformat(),
    }
    key = f"password-reset:{user_id}:{hashlib.sha256(reset_link.encode()).hexdigest()[:20]}"
    return queue_email(
        session,
        kind="password_reset",
        to=to,
        dedupe_key=key,
        context=context,
        subject="Reset your password",
        now=now,
    )


def staff_invite(
    session: Session,
    *,
    to: str,
    link: str,
    invited_by: str,
    expires_days: int,
    user_id: int,
    now: datetime | None = None,
) -> OutboxMessage | None:
    """An invitation to the shop's staff: a link to choose a password (a secret, erased once
    sent and never sent after it expired)."""
    now = clock.now(now)
    context = {
        "invite_link": link,
        "invited_by": invited_by,
        "expires_days": expires_days,
        "expires_at": (now + timedelta(days=expires_days)).isoformat(),
    }
    key = f"staff-invite:{user_id}:{hashlib.sha256(link.encode()).hexdigest()[:20]}"
    return queue_email(
        session,
        kind="staff_invite",
        to=to,
        dedupe_key=key,
        context=context,
        subject="You are invited to run the shop",
        now=now,
    )
