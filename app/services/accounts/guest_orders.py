"""Guest orders join the account of their email once that email is proven: when a
registration's confirmation link is opened (``registration.confirm``), every earlier order
placed as a guest with the same email (any case) becomes the new account's, so its history
shows them. Each order's timeline says so, and the audit log keeps one row naming them.

Locks: the orders (ascending id), before the confirmation's leaf row, in the caller's
transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Order, User
from app.services import audit, locks
from app.services.orders.order_book import add_event

LINKED_MESSAGE = "Added to your account."


def lock_guest_orders(session: Session, email: str) -> list[Order]:
    """The orders placed as a guest with ``email`` (case-insensitive), locked."""
    ids = session.scalars(
        select(Order.id).where(
            func.lower(Order.email) == email.strip().lower(), Order.user_id.is_(None)
        )
    ).all()
    rows = locks.lock_orders(session, ids)
    return [order for _id, order in sorted(rows.items()) if order.user_id is None]


def attach(session: Session, user: User, orders: list[Order], now: datetime) -> None:
    """Make ``orders`` (locked by :func:`lock_guest_orders`) the account's."""
    if not orders:
        return
    for order in orders:
        order.user_id = user.id
        add_event(order, order.status, LINKED_MESSAGE, now)
    audit.record(
        session,
        "user.guest_orders_attached",
        actor=user.email,
        actor_id=user.id,
        subject_type="user",
        subject_id=user.id,
        orders=[order.number for order in orders],
    )
