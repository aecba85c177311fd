"""Checkouts: one attempt to turn a cart into an order, as an explicit state machine.

A checkout snapshots the cart's lines and prices, holds their stock until ``expires_at``, and
moves through phases (see ``services.checkout``). ``active_cart_id`` equals ``cart_id`` while
the checkout is active and is NULL otherwise; its unique constraint is what guarantees one
active checkout per cart, whatever the application code does.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, LinePricing, PriceBreakdown, ShippingAddress, str_enum, utcnow


class CheckoutState(enum.StrEnum):
    """reserved: stock held, prices snapshotted, the shopper reviews and chooses how to pay.
    awaiting_payment: a payment was created; the shopper is at the provider.
    completing: payment reported; the order is being created, captured and committed.
    completed: an order exists. expired: the hold ran out before payment.
    cancelled: the shopper changed the cart or gave up. failed: a phase failed and was undone."""

    RESERVED = "reserved"
    AWAITING_PAYMENT = "awaiting_payment"
    COMPLETING = "completing"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    FAILED = "failed"


ACTIVE_STATES = (CheckoutState.RESERVED, CheckoutState.AWAITING_PAYMENT, CheckoutState.COMPLETING)


class Checkout(ShippingAddress, PriceBreakdown, Base):
    __tablename__ = "checkouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    cart_id: Mapped[int | None] = mapped_column(
        ForeignKey("carts.id", ondelete="SET NULL"), index=True
    )
    active_cart_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    owner_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[CheckoutState] = mapped_column(str_enum(CheckoutState))
    phase: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    total_cents: Mapped[int] = mapped_column(Integer)  # what the provider is asked to charge
    # The rate the shopper chose (its name and price are kept in the breakdown's columns).
    shipping_rate_id: Mapped[int | None] = mapped_column(
        ForeignKey("shipping_rates.id", ondelete="SET NULL"), default=None
    )
    # False when every line is digital: no address beyond the email, no shipping.
    needs_shipping: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    hold_ref: Mapped[str | None] = mapped_column(String(40), index=True)
    hold_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    payment_provider: Mapped[str | None] = mapped_column(String(32))
    failure_phase: Mapped[str | None] = mapped_column(String(40))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)

    lines: Mapped[list[CheckoutLine]] = relationship(
        back_populates="checkout", order_by="CheckoutLine.id", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES


class CheckoutLine(LinePricing, Base):
    """A cart line frozen at checkout start: what, how many, at what unit price."""

    __tablename__ = "checkout_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_cents >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    checkout_id: Mapped[int] = mapped_column(
        ForeignKey("checkouts.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    weight_grams: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # per unit
    is_digital: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    checkout: Mapped[Checkout] = relationship(back_populates="lines")

    @property
    def total_cents(self) -> int:
        return self.unit_price_cents * self.quantity


class CheckoutEvent(Base):
    """The checkout's structured log: one row per phase transition, failure, rollback step
    and price-drift finding."""

    __tablename__ = "checkout_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    checkout_id: Mapped[int] = mapped_column(
        ForeignKey("checkouts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    phase: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
