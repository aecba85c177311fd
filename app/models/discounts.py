"""Discount codes, and the holds that keep a limited code from being used more than its limit.

A limited code is held like stock (``services.discounts``): applying it at checkout inserts a
``DiscountHold`` with the checkout's deadline, payment commits it (and counts one of the code's
``uses``), and cancel, failure or expiry release it. Invariants (``flask holdfast verify``):

- ``uses`` equals the number of the code's committed holds, and never exceeds ``usage_limit``;
- ``uses`` plus the holds still ``held`` with a deadline after now never exceeds
  ``usage_limit`` when holds are taken. A held hold whose deadline has passed counts for
  nothing from that instant, whether or not the sweeper has released it yet.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, str_enum, utcnow
from .catalog import Product


class DiscountKind(enum.StrEnum):
    """percent: ``value`` is basis points (1000 = 10 %). fixed: ``value`` is cents of
    ``currency``."""

    PERCENT = "percent"
    FIXED = "fixed"


class DiscountScope(enum.StrEnum):
    """order: the whole order's subtotal. products: only lines of the code's products."""

    ORDER = "order"
    PRODUCTS = "products"


class DiscountHoldState(enum.StrEnum):
    """held: one use reserved for a checkout until ``expires_at``. committed: used at payment
    (counted in the code's ``uses``). released: given back (cancel, failure or expiry)."""

    HELD = "held"
    COMMITTED = "committed"
    RELEASED = "released"


discount_code_products = Table(
    "discount_code_products",
    Base.metadata,
    Column(
        "code_id",
        ForeignKey("discount_codes.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "product_id",
        ForeignKey("products.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class DiscountCode(Base):
    __tablename__ = "discount_codes"
    __table_args__ = (
        CheckConstraint("code = upper(code)", name="code_upper_case"),
        CheckConstraint("value > 0", name="value_positive"),
        CheckConstraint("kind != 'percent' OR value <= 10000", name="percent_at_most_100"),
        CheckConstraint("kind != 'fixed' OR currency IS NOT NULL", name="fixed_has_currency"),
        CheckConstraint("min_spend_cents >= 0", name="min_spend_not_negative"),
        CheckConstraint("uses >= 0", name="uses_not_negative"),
        CheckConstraint("usage_limit IS NULL OR usage_limit >= 1", name="usage_limit_positive"),
        CheckConstraint("usage_limit IS NULL OR uses <= usage_limit", name="uses_within_limit"),
        CheckConstraint(
            "starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at", name="starts_before_ends"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored upper-case (the CHECK above), so unique is unique case-insensitively.
    code: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[DiscountKind] = mapped_column(str_enum(DiscountKind))
    value: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3), default=None)
    applies_to: Mapped[DiscountScope] = mapped_column(
        str_enum(DiscountScope), default=DiscountScope.ORDER
    )
    min_spend_cents: Mapped[int] = mapped_column(Integer, default=0)
    starts_at: Mapped[datetime | None] = mapped_column(default=None)
    ends_at: Mapped[datetime | None] = mapped_column(default=None)
    once_per_shopper: Mapped[bool] = mapped_column(Boolean, default=False)
    usage_limit: Mapped[int | None] = mapped_column(Integer, default=None)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # For ``applies_to == products``: the products the code takes money off.
    products: Mapped[list[Product]] = relationship(
        secondary=discount_code_products, order_by="Product.id"
    )


LIVE_WHERE = "state = 'held'"


class DiscountHold(Base):
    """One use of a code, reserved for a checkout (``shopper_key``: the shopper's e-mail
    lower-cased, or ``user:<id>`` when there is none)."""

    __tablename__ = "discount_holds"
    __table_args__ = (
        CheckConstraint(
            "(state = 'committed') = (committed_at IS NOT NULL)", name="committed_has_time"
        ),
        CheckConstraint("state != 'released' OR released_at IS NOT NULL", name="released_has_time"),
        Index("ix_discount_holds_code_state_expires", "code_id", "state", "expires_at"),
        Index("ix_discount_holds_code_shopper", "code_id", "shopper_key"),
        Index(
            "ix_discount_holds_held_expires",
            "expires_at",
            postgresql_where=text(LIVE_WHERE),
            sqlite_where=text(LIVE_WHERE),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("discount_codes.id"))
    checkout_id: Mapped[int | None] = mapped_column(
        ForeignKey("checkouts.id", ondelete="SET NULL"), index=True
    )
    shopper_key: Mapped[str] = mapped_column(String(254))
    state: Mapped[DiscountHoldState] = mapped_column(
        str_enum(DiscountHoldState), default=DiscountHoldState.HELD
    )
    expires_at: Mapped[datetime]
    committed_at: Mapped[datetime | None] = mapped_column(default=None)
    released_at: Mapped[datetime | None] = mapped_column(default=None)
    # Why it was released: expired, cancelled, failed, ... (free text from the caller).
    released_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    code: Mapped[DiscountCode] = relationship()
