"""Declarative base, naming convention (Alembic batch mode on SQLite needs named constraints)
and the column types every model shares."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Enum, Integer, MetaData, String, TypeDecorator, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app import clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return clock.utcnow()


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend.

    Postgres stores ``timestamptz``; SQLite stores naive UTC text (so that string comparison in
    SQL orders correctly) and values come back aware. Naive datetimes are refused on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use clock.utcnow()")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def str_enum(enum_cls: type[enum.Enum], length: int = 32) -> Enum:
    """Store an enum's values as plain strings (no native Postgres enum to migrate)."""
    return Enum(
        enum_cls,
        native_enum=False,
        length=length,
        validate_strings=True,
        values_callable=lambda e: [m.value for m in e],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class ShippingAddress:
    """The buyer's contact and shipping address, as entered at checkout (checkouts and the
    orders made from them carry the same columns)."""

    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str] = mapped_column(String(120))
    address_line1: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(120))
    postal_code: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2, upper case
    # Optional: "" when not given (rows from before migration 0011 read "").
    address_line2: Mapped[str] = mapped_column(String(200), default="", server_default="")
    region: Mapped[str] = mapped_column(String(120), default="", server_default="")
    phone: Mapped[str] = mapped_column(String(32), default="", server_default="")


class PriceBreakdown:
    """How a checkout's (and the order made from it) total is made up, as priced by
    ``services.pricing`` when the shopper last confirmed it: ``total_cents`` = subtotal −
    discount + shipping, plus ``tax_cents`` when the shop's prices exclude tax. Rows from
    before migration 0014 read 0 tax, shipping and discount (their total was the subtotal)."""

    subtotal_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    discount_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    shipping_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    shipping_tax_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # the lines' tax plus the shipping's
    tax_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    prices_include_tax: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    shipping_name: Mapped[str] = mapped_column(String(80), default="", server_default="")
    discount_code: Mapped[str] = mapped_column(String(40), default="", server_default="")


class LinePricing:
    """A checkout or order line's share of the discount and its tax (``tax_percent``: the rate
    as text such as "20" or "8.875", "" when no rate applied)."""

    discount_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    tax_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    tax_percent: Mapped[str] = mapped_column(String(12), default="", server_default="")

    @property
    def gross_cents(self) -> int:
        return self.unit_price_cents * self.quantity

    @property
    def net_cents(self) -> int:
        """The line after its discount, as entered (tax included when prices include it)."""
        return self.gross_cents - self.discount_cents
