"""Orders: created once per checkout, with a human number, a timeline, and a status that moves
only along ``ORDER_TRANSITIONS`` (``set_status``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models import ORDER_TRANSITIONS, Checkout, Order, OrderEvent, OrderLine, OrderStatus
from app.services.errors import NotFound

# No 0/O, 1/I/L: numbers are read out over the phone.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_order_number() -> str:
    return "HF-" + "".join(secrets.choice(ALPHABET) for _ in range(8))


class IllegalOrderMove(RuntimeError):
    """A status change the order's transition table does not allow (a bug, never a shopper's
    doing)."""


def set_status(order: Order, to: OrderStatus) -> None:
    """The one place an order's status changes; refuses a move outside ``ORDER_TRANSITIONS``
    (staying put is always allowed)."""
    if to is not order.status and to not in ORDER_TRANSITIONS[order.status]:
        raise IllegalOrderMove(f"order {order.number}: {order.status} → {to}")
    order.status = to


def add_event(order: Order, status: OrderStatus | str, message: str, now: datetime) -> None:
    order.events.append(OrderEvent(status=str(status), message=message, created_at=now))


def create_order_from_checkout(session: Session, checkout: Checkout, now: datetime) -> Order:
    """An order awaiting its payment's capture, copying the checkout's snapshot."""
    order = Order(
        number=new_order_number(),
        checkout_id=checkout.id,
        user_id=checkout.user_id,
        status=OrderStatus.PENDING_PAYMENT,
        email=checkout.email,
        full_name=checkout.full_name,
        address_line1=checkout.address_line1,
        city=checkout.city,
        postal_code=checkout.postal_code,
        country=checkout.country,
        currency=checkout.currency,
        total_cents=checkout.total_cents,
        created_at=now,
    )
    order.lines = [
        OrderLine(
            variant_id=line.variant_id,
            sku=line.sku,
            name=line.name,
            quantity=line.quantity,
            unit_price_cents=line.unit_price_cents,
        )
        for line in checkout.lines
    ]
    add_event(order, OrderStatus.PENDING_PAYMENT, "Order placed; confirming payment.", now)
    session.add(order)
    session.flush()
    return order


def orders_of_user(session: Session, user_id: int, limit: int = 100) -> list[Order]:
    return list(
        session.scalars(
            select(Order)
            .where(Order.user_id == user_id)
            .order_by(Order.created_at.desc())
            .limit(limit)
        )
    )


def order_for_checkout(session: Session, checkout_id: int) -> Order | None:
    return session.scalar(select(Order).where(Order.checkout_id == checkout_id))


def get_order_for(
    session: Session,
    number: str,
    *,
    user_id: int | None,
    owner_key: str,
    signed: bool = False,
) -> Order:
    """The order, only for its buyer: the account that placed it, the browser that ran its
    checkout, or whoever holds the signed link from its emails (``signed``, checked by the
    caller with ``OrderLinks.verify``). Anyone else gets not found."""
    order = session.scalar(
        select(Order)
        .where(Order.number == number)
        .options(selectinload(Order.lines), selectinload(Order.events))
    )
    if order is None:
        raise NotFound("We could not find that order.")
    if signed or (user_id is not None and order.user_id == user_id):
        return order
    checkout = session.get(Checkout, order.checkout_id)
    if checkout is not None and secrets.compare_digest(checkout.owner_key, owner_key):
        return order
    raise NotFound("We could not find that order.")


@dataclass(frozen=True)
class OrderLinks:
    """Links to order pages for emails: a guest opens their order through a signed token."""

    base_url: str
    secret: str

    @classmethod
    def from_config(cls, config) -> OrderLinks:
        return cls(
            str(config.get("SHOP_BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
            str(config["SECRET_KEY"]),
        )

    def _signer(self) -> URLSafeSerializer:
        return URLSafeSerializer(self.secret, salt="holdfast.order-link")

    def token(self, number: str) -> str:
        return self._signer().dumps(number)

    def link(self, order: Order) -> str:
        return f"{self.base_url}/orders/{order.number}?t={self.token(order.number)}"

    def verify(self, number: str, token: str | None) -> bool:
        if not token:
            return False
        try:
            return self._signer().loads(token) == number
        except BadSignature:
            return False
