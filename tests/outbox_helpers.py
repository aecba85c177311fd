"""Helpers for the outbox tests (tests/integration/test_outbox.py and test_email_kinds.py): a
fixed clock, a paid order built from the models, and short ways to queue and read its emails.
Their fixtures are in tests/outbox_fixtures.py."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from app.db import begin_write
from app.models import (
    Checkout,
    CheckoutState,
    Order,
    OrderLine,
    OrderStatus,
    OutboxMessage,
)
from app.services.mail import notifications
from app.services.orders.order_book import new_order_number

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
BASE = "https://shop.example"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def place_order(session, lines, email: str = "ada@example.com") -> Order:
    """A paid order with its checkout, built from the models as completion builds it."""
    begin_write(session)
    total = sum(v.price_cents * q for v, _name, q in lines)
    address = {
        "email": email,
        "full_name": "Ada Lovelace",
        "address_line1": "12 St James's Square",
        "city": "London",
        "postal_code": "SW1Y 4JH",
        "country": "GB",
        "currency": "USD",
        "total_cents": total,
    }
    checkout = Checkout(
        public_id=f"co_{secrets.token_hex(6)}",
        owner_key="test",
        state=CheckoutState.COMPLETED,
        phase="stock_commit",
        expires_at=datetime.now(UTC) + timedelta(minutes=15),
        **address,
    )
    session.add(checkout)
    session.flush()
    order = Order(
        number=new_order_number(), checkout_id=checkout.id, status=OrderStatus.PAID, **address
    )
    order.lines = [
        OrderLine(variant_id=v.id, sku=v.sku, name=name, quantity=q, unit_price_cents=v.price_cents)
        for v, name, q in lines
    ]
    session.add(order)
    session.commit()
    return order


def link(order: Order) -> str:
    return notifications.order_url(BASE, order.number)


def confirm(session, order: Order) -> OutboxMessage | None:
    begin_write(session)
    message = notifications.order_confirmed(session, order, link=link(order))
    session.commit()
    return message


def bodies(message) -> tuple[str, str]:
    return (message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content())


def outbox(db) -> list[OutboxMessage]:
    db.expire_all()
    return list(db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def wait_until_a_session_waits_on_a_lock(db, who: str = "the second transaction") -> None:
    """Postgres: until some session of this database waits on a lock (10 s at most)."""
    deadline = time.monotonic() + 10
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND datname = current_database()"
    )
    while db.execute(query).scalar() == 0:
        assert time.monotonic() < deadline, f"{who} never waited"
        time.sleep(0.01)
