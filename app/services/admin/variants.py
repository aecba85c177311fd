"""A product's variants in the admin: added and edited (options, price, SKU, back-orders, the
low-stock threshold, the shipping weight in grams). Physical or digital comes from the
product's kind.

A SKU is unique across the shop: a duplicate is a :class:`DomainError` naming it, and nothing
changes. Prices arrive as integer cents (the view parses the owner's decimal with
``app.money.parse_money``). A variant is locked (``services.locks``) before it changes; each
change leaves an audit row with the values before and after.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import begin_write
from app.models import Product, Variant
from app.services import audit, locks
from app.services.admin.catalogue import changes_between, made_with
from app.services.errors import DomainError, NotFound

SKU_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_PRICE_CENTS = 100_000_000  # a million in the shop's currency
MAX_THRESHOLD = 100_000
MAX_WEIGHT_GRAMS = 1_000_000  # a tonne: more is a typo


@dataclass(frozen=True)
class VariantInput:
    sku: str
    name: str
    size: str
    colour: str
    price_cents: int
    allow_backorder: bool
    low_stock_threshold: int
    weight_grams: int = 0  # per unit, for weight-band shipping rates


def check(data: VariantInput) -> VariantInput:
    """The input cleaned, or a :class:`DomainError` that names what is wrong."""
    sku = (data.sku or "").strip()
    if not SKU_PATTERN.match(sku):
        raise DomainError(
            "A SKU is 1 to 64 letters, digits, dots, dashes or underscores, "
            "starting with a letter or digit."
        )
    if not 0 <= data.price_cents <= MAX_PRICE_CENTS:
        raise DomainError("Enter a price from 0 to 1,000,000.")
    if not 0 <= data.low_stock_threshold <= MAX_THRESHOLD:
        raise DomainError(f"The low-stock threshold is a number from 0 to {MAX_THRESHOLD}.")
    if not 0 <= data.weight_grams <= MAX_WEIGHT_GRAMS:
        raise DomainError(f"The weight is a whole number of grams from 0 to {MAX_WEIGHT_GRAMS}.")
    name, size, colour = (" ".join((v or "").split()) for v in (data.name, data.size, data.colour))
    if len(name) > 120 or len(size) > 40 or len(colour) > 40:
        raise DomainError("A variant's name has at most 120 characters, size and colour 40.")
    return VariantInput(
        sku,
        name,
        size,
        colour,
        data.price_cents,
        data.allow_backorder,
        data.low_stock_threshold,
        data.weight_grams,
    )


def _refuse_taken_sku(session: Session, sku: str, exclude_id: int | None = None) -> None:
    stmt = select(Variant.id).where(func.lower(Variant.sku) == sku.lower())
    if exclude_id is not None:
        stmt = stmt.where(Variant.id != exclude_id)
    if session.scalar(stmt) is not None:
        raise DomainError(f"The SKU {sku} is already used by another variant; choose another.")


def _values(variant: Variant) -> dict:
    return {
        "sku": variant.sku,
        "name": variant.name,
        "size": variant.size or "",
        "colour": variant.colour or "",
        "price_cents": variant.price_cents,
        "allow_backorder": variant.allow_backorder,
        "low_stock_threshold": variant.low_stock_threshold,
        "weight_grams": variant.weight_grams,
    }


def _apply(variant: Variant, data: VariantInput) -> None:
    variant.sku, variant.name = data.sku, data.name
    variant.size, variant.colour = data.size or None, data.colour or None
    variant.price_cents, variant.allow_backorder = data.price_cents, data.allow_backorder
    variant.low_stock_threshold = data.low_stock_threshold
    variant.weight_grams = data.weight_grams


def create_variant(
    session: Session, product_id: int, data: VariantInput, *, currency: str, actor: str, key: str
) -> Variant:
    """A new variant of the product (no stock yet), or the one an earlier post of the same form
    made."""
    begin_write(session)
    try:
        done = made_with(session, "variant.created", key)
        if done is not None:
            return session.get(Variant, done)
        product = session.get(Product, product_id)
        if product is None:
            raise NotFound("No such product.")
        data = check(data)
        _refuse_taken_sku(session, data.sku)
    except DomainError:
        session.rollback()
        raise
    count = session.scalar(select(func.count()).where(Variant.product_id == product_id)) or 0
    variant = Variant(product_id=product_id, currency=currency, on_hand=0, position=count)
    _apply(variant, data)
    session.add(variant)
    try:
        session.flush()
    except IntegrityError:  # a concurrent post took the SKU (the same form, or another)
        session.rollback()
        if (done := made_with(session, "variant.created", key)) is not None:
            return session.get(Variant, done)
        raise DomainError(f"The SKU {data.sku} is already used by another variant.") from None
    audit.record(
        session,
        "variant.created",
        actor=actor,
        subject_type="variant",
        subject_id=variant.id,
        key=key,
        product_id=product_id,
        kind=product.kind.value,
        **asdict(data),
    )
    session.commit()
    return variant


def update_variant(session: Session, variant_id: int, data: VariantInput, *, actor: str) -> bool:
    """Save a variant's fields (locked first); returns whether anything changed."""
    try:
        data = check(data)
        variant = locks.lock_variants(session, [variant_id]).get(variant_id)
        if variant is None:
            raise NotFound("No such variant.")
        _refuse_taken_sku(session, data.sku, exclude_id=variant_id)
    except DomainError:
        session.rollback()
        raise
    before = _values(variant)
    _apply(variant, data)
    changes = changes_between(before, _values(variant))
    if not changes:
        session.rollback()
        return False
    audit.record(
        session,
        "variant.updated",
        actor=actor,
        subject_type="variant",
        subject_id=variant_id,
        sku=variant.sku,
        **changes,
    )
    session.commit()
    return True
