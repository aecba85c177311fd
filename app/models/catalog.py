"""The catalogue: categories, products, their variants and images.

A product is what a shopper browses; a variant (size, colour, edition) is what is bought and
stocked. ``Variant.on_hand`` is a cache of the stock ledger (``StockMovement``); only
``services.inventory`` writes it, and ``flask holdfast verify`` proves it equals the ledger.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, str_enum, utcnow


class ProductKind(enum.StrEnum):
    """physical: shipped from stock on hand. digital: delivered as license keys."""

    PHYSICAL = "physical"
    DIGITAL = "digital"


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)

    products: Mapped[list[Product]] = relationship(back_populates="category")


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(160), unique=True)
    name: Mapped[str] = mapped_column(String(160))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[ProductKind] = mapped_column(str_enum(ProductKind), default=ProductKind.PHYSICAL)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    featured: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    category: Mapped[Category] = relationship(back_populates="products")
    variants: Mapped[list[Variant]] = relationship(
        back_populates="product", order_by="Variant.position, Variant.id"
    )
    images: Mapped[list[ProductImage]] = relationship(
        back_populates="product", order_by="ProductImage.position, ProductImage.id"
    )


class Variant(Base):
    __tablename__ = "variants"
    __table_args__ = (CheckConstraint("price_cents >= 0", name="price_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    size: Mapped[str | None] = mapped_column(String(40))
    colour: Mapped[str | None] = mapped_column(String(40))
    price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    allow_backorder: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # The owner is told when what is available falls to this (the dashboard lists it too).
    low_stock_threshold: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    # Per unit, for weight-band shipping rates (digital products weigh nothing).
    weight_grams: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    product: Mapped[Product] = relationship(back_populates="variants")

    @property
    def label(self) -> str:
        return self.name or self.sku


class ProductImage(Base):
    """An image stored in the database, so every app server can serve it (stateless app)."""

    __tablename__ = "product_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(64), default="image/svg+xml")
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # only /media reads it
    alt: Mapped[str] = mapped_column(String(200), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    # An uploaded photo: its generated name, the full size (``data``) and the product-card
    # size (``card_data``), both re-encoded by Pillow. The demo's SVGs have none of these.
    stored_name: Mapped[str | None] = mapped_column(String(64), unique=True)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    card_data: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # The colour of the product this photo shows (a ``Variant.colour``, compared without
    # regard to case), or None for a photo of the product as a whole. A colour rather than a
    # variant: a photo shows a colour, every size of it looks the same, and a size added later
    # shows its colour's photo without the owner tying it again.
    colour: Mapped[str | None] = mapped_column(String(40))

    product: Mapped[Product] = relationship(back_populates="images")
