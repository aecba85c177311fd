"""Orders: what a shopper bought, created once per checkout (unique ``checkout_id``)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, LinePricing, PriceBreakdown, ShippingAddress, str_enum, utcnow
from .catalog import Variant


class OrderStatus(enum.StrEnum):
    """pending_payment: created during completion, payment not yet captured.
    paid: captured; nothing delivered yet. fulfilled / partially_fulfilled: every / some unit
    delivered. awaiting_stock: paid, waiting for stock or keys. shipped: handed to the carrier.
    cancelled, refunded, partially_refunded, return_requested, returned: after the sale."""

    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    FULFILLED = "fulfilled"
    PARTIALLY_FULFILLED = "partially_fulfilled"
    AWAITING_STOCK = "awaiting_stock"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    RETURN_REQUESTED = "return_requested"
    RETURNED = "returned"


_S = OrderStatus
_REFUND = frozenset({_S.REFUNDED, _S.PARTIALLY_REFUNDED})
_FILL = frozenset({_S.PAID, _S.AWAITING_STOCK, _S.PARTIALLY_FULFILLED, _S.FULFILLED})

# The one transition table of orders: the only moves ``services.orders.order_book.set_status``
# makes. Staying in a state is always allowed (a fill that delivers nothing new).
ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.PENDING_PAYMENT: frozenset({_S.PAID, _S.CANCELLED}),
    # paid → a fill delivers some or all of it, the owner ships, the shopper cancels, a refund
    _S.PAID: _FILL | _REFUND | {_S.SHIPPED, _S.CANCELLED},
    _S.AWAITING_STOCK: _FILL | _REFUND | {_S.CANCELLED},
    _S.PARTIALLY_FULFILLED: _FILL | _REFUND | {_S.SHIPPED, _S.CANCELLED},
    _S.FULFILLED: _REFUND,
    _S.SHIPPED: _REFUND | {_S.RETURN_REQUESTED},
    # a refused return puts the order back as shipped when no other return is waiting
    _S.RETURN_REQUESTED: _REFUND | {_S.RETURNED, _S.SHIPPED},
    _S.RETURNED: _REFUND | {_S.RETURN_REQUESTED},
    _S.PARTIALLY_REFUNDED: _REFUND | {_S.RETURNED, _S.RETURN_REQUESTED, _S.CANCELLED},
    # refunded in full: a cancellation records its refund, then the cancellation itself
    _S.REFUNDED: frozenset({_S.CANCELLED}),
    _S.CANCELLED: frozenset(),
}


class Order(ShippingAddress, PriceBreakdown, Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    checkout_id: Mapped[int] = mapped_column(ForeignKey("checkouts.id"), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[OrderStatus] = mapped_column(str_enum(OrderStatus))
    currency: Mapped[str] = mapped_column(String(3))
    total_cents: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    paid_at: Mapped[datetime | None] = mapped_column(default=None)
    shipped_at: Mapped[datetime | None] = mapped_column(default=None)
    carrier: Mapped[str | None] = mapped_column(String(60))
    tracking_number: Mapped[str | None] = mapped_column(String(120))
    # Guest links (``?t=``) signed before this moment no longer open the order: the owner
    # withdrew them. None: every unexpired link works.
    guest_links_since: Mapped[datetime | None] = mapped_column(default=None)

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", cascade="all, delete-orphan"
    )
    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", order_by="OrderEvent.id", cascade="all, delete-orphan"
    )


class OrderLine(LinePricing, Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "quantity_fulfilled >= 0 AND quantity_fulfilled <= quantity", name="fulfilled_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    quantity_fulfilled: Mapped[int] = mapped_column(Integer, default=0)

    order: Mapped[Order] = relationship(back_populates="lines")
    variant: Mapped[Variant] = relationship()

    @property
    def waiting(self) -> int:
        """Units paid for and not yet delivered (keys) or allocated from stock."""
        return self.quantity - self.quantity_fulfilled

    @property
    def total_cents(self) -> int:
        return self.unit_price_cents * self.quantity


class OrderEvent(Base):
    """The order's timeline, as the shopper and the owner read it."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text, default="")

    order: Mapped[Order] = relationship(back_populates="events")


class ReturnState(enum.StrEnum):
    """requested: the shopper asked. received: the goods came back (refund and restock follow).
    refused: the shop declined the request."""

    REQUESTED = "requested"
    RECEIVED = "received"
    REFUSED = "refused"


class Return(Base):
    """A shopper's request to send back units of one shipped order line."""

    __tablename__ = "returns"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[ReturnState] = mapped_column(str_enum(ReturnState))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime | None] = mapped_column(default=None)
    # The shop's decision: restocked or written_off (received), or refused (with the reason
    # the shopper is told).
    decision: Mapped[str | None] = mapped_column(String(20))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[str | None] = mapped_column(String(254))

    line: Mapped[OrderLine] = relationship()
