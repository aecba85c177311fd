"""Payments as the shop records them, refunds, provider webhooks, and the offline testpay
provider's own ledger."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, str_enum, utcnow


class PaymentStatus(enum.StrEnum):
    """What the provider says of a payment.

    pending: created, the shopper has not approved yet. authorized: approved, not yet captured.
    captured: money taken. failed: declined or errored. voided: cancelled before capture
    (or expired at the provider). refunded / partially_refunded: money (partly) returned.
    """

    PENDING = "pending"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    FAILED = "failed"
    VOIDED = "voided"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


# A payment whose money was taken (and may have been given back since).
CAPTURED_STATES = (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED)


class Payment(Base):
    """One payment created with a provider for one checkout."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("provider", "provider_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    checkout_id: Mapped[int] = mapped_column(ForeignKey("checkouts.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str] = mapped_column(String(120))
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus))
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    captured_cents: Mapped[int] = mapped_column(Integer, default=0)
    refunded_cents: Mapped[int] = mapped_column(Integer, default=0)
    capture_ref: Mapped[str | None] = mapped_column(String(120))
    approval_url: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_checked_at: Mapped[datetime | None] = mapped_column(default=None)


class RefundStatus(enum.StrEnum):
    """requested: claimed, the provider is being asked now (a second caller with the same
    idempotency key waits for the answer instead of asking again). pending: the provider
    accepted it and will settle it later. succeeded / failed: the provider's answer."""

    REQUESTED = "requested"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    # The tax returned within amount_cents (services/orders/refund_tax.py), set when the
    # refund succeeds; 0 for refunds without an order and those from before migration 0015.
    tax_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text, default="")
    restock: Mapped[bool] = mapped_column(default=False)
    status: Mapped[RefundStatus] = mapped_column(str_enum(RefundStatus))
    provider_refund_id: Mapped[str | None] = mapped_column(String(120))
    error: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(254), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the refund was last claimed or answered (a claim older than a few minutes belongs
    # to a caller that died while asking the provider, and may be taken over).
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the order recorded the refund (its status, timeline, restock and email); a
    # succeeded refund without it is repaired by reconciliation.
    applied_at: Mapped[datetime | None] = mapped_column(default=None)
    # {order line id: units} returned to stock with this refund.
    restock_lines: Mapped[dict[str, int] | None] = mapped_column(JSON, default=None)


class WebhookState(enum.StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class WebhookEvent(Base):
    """A verified provider webhook, stored before it is processed; replayable."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    provider_ref: Mapped[str | None] = mapped_column(String(120), index=True)
    amount_cents: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[WebhookState] = mapped_column(str_enum(WebhookState))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)


class TestpayPayment(Base):
    """The offline testpay provider's side of a payment (it plays a remote provider)."""

    __test__ = False  # not a pytest test class, whatever its name
    __tablename__ = "testpay_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    checkout_ref: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus))
    captured_cents: Mapped[int] = mapped_column(Integer, default=0)
    refunded_cents: Mapped[int] = mapped_column(Integer, default=0)
    return_url: Mapped[str] = mapped_column(Text)
    cancel_url: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    refunds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # key → refund
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
