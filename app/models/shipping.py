"""Where the shop ships, at what price, and the tax it charges where.

- A ``ShippingZone`` is a set of places (countries, or regions of a country) that share rates;
  one zone may instead be the shop's "rest of the world" (every place no other zone names;
  at most one, a partial unique index says so).
  A place belongs to at most one zone (unique country + region), so a destination has at most
  one zone: a zone naming its region wins over one naming its whole country, then the rest of
  the world.
- A ``ShippingRate`` is one way to ship to a zone: a flat price per order, or a price by weight
  band (``bands``: ``[[up_to_grams, price_cents], ...]`` in ascending weight), optionally free
  when the goods' subtotal after discounts reaches ``free_above_cents``. Prices are entered the
  way the shop enters prices (tax-inclusive or not, the ``prices_include_tax`` setting).
- A ``TaxRate`` is a percentage for a country, optionally one region of it (the region's own
  rate replaces the country's: rates do not stack), stored in thousandths of a percent
  (8.875 % is 8875), and whether shipping to that place is taxed at it.

Pricing itself is pure (``services.pricing``); ``services.checkout.pricing`` turns these rows
into its inputs.
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
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, str_enum, utcnow


class ShippingZone(Base):
    __tablename__ = "shipping_zones"
    __table_args__ = (
        # At most one rest-of-the-world zone, kept by the database too (two owners saving at
        # once would otherwise both get one).
        Index(
            "uq_shipping_zones_one_rest_of_world",
            "rest_of_world",
            unique=True,
            postgresql_where=text("rest_of_world"),
            sqlite_where=text("rest_of_world"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    # Every place no other zone names (at most one zone is; services.shipping keeps it so).
    rest_of_world: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    places: Mapped[list[ShippingPlace]] = relationship(
        back_populates="zone",
        order_by="(ShippingPlace.country, ShippingPlace.region)",
        cascade="all, delete-orphan",
    )
    rates: Mapped[list[ShippingRate]] = relationship(
        back_populates="zone",
        order_by="(ShippingRate.position, ShippingRate.id)",
        cascade="all, delete-orphan",
    )


class ShippingPlace(Base):
    """A country (``region`` empty) or one region of it, in one zone."""

    __tablename__ = "shipping_places"
    __table_args__ = (UniqueConstraint("country", "region", name="one_zone_per_place"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    zone_id: Mapped[int] = mapped_column(
        ForeignKey("shipping_zones.id", ondelete="CASCADE"), index=True
    )
    country: Mapped[str] = mapped_column(String(2))
    # "" for the whole country (not NULL, so the unique constraint sees it on every database).
    region: Mapped[str] = mapped_column(String(80), default="")

    zone: Mapped[ShippingZone] = relationship(back_populates="places")


class RateKind(enum.StrEnum):
    """flat: ``price_cents`` per order. weight: the price of the lightest band that fits."""

    FLAT = "flat"
    WEIGHT = "weight"


class ShippingRate(Base):
    __tablename__ = "shipping_rates"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint(
            "free_above_cents IS NULL OR free_above_cents >= 0", name="free_above_not_negative"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    zone_id: Mapped[int] = mapped_column(
        ForeignKey("shipping_zones.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[RateKind] = mapped_column(str_enum(RateKind), default=RateKind.FLAT)
    price_cents: Mapped[int] = mapped_column(Integer, default=0)  # flat rates
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    # weight rates: [[up_to_grams, price_cents], ...], ascending weight
    bands: Mapped[list[Any]] = mapped_column(JSON, default=list)
    free_above_cents: Mapped[int | None] = mapped_column(Integer, default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    zone: Mapped[ShippingZone] = relationship(back_populates="rates")


class TaxRate(Base):
    __tablename__ = "tax_rates"
    __table_args__ = (
        UniqueConstraint("country", "region", "category", name="one_rate_per_place"),
        CheckConstraint(
            "percent_thousandths >= 0 AND percent_thousandths <= 100000", name="percent_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), default="")
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str] = mapped_column(String(80), default="")  # "" for the whole country
    category: Mapped[str] = mapped_column(String(40), default="standard")
    percent_thousandths: Mapped[int] = mapped_column(Integer)  # 20 % is 20000
    applies_to_shipping: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
