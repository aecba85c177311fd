"""Creating discount codes (the admin's pages and the demo seed will call this)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import begin_write
from app.models import DiscountCode, DiscountKind, DiscountScope, Product
from app.services import audit
from app.services.discounts.rules import DiscountError, normalize_code
from app.services.transactions import unit_of_work


def _check(row: DiscountCode) -> None:
    """Refuse settings no shop means (the database's CHECKs would refuse them less kindly)."""
    if row.value <= 0:
        raise DiscountError("A discount must take something off: enter a value above 0.")
    if row.kind is DiscountKind.PERCENT and row.value > 10000:
        raise DiscountError("A percentage discount can be at most 100 %.")
    if row.kind is DiscountKind.FIXED and not row.currency:
        raise DiscountError("A fixed-amount discount needs a currency.")
    if row.usage_limit is not None and row.usage_limit < 1:
        raise DiscountError("A usage limit must be at least 1 (leave it empty for unlimited).")
    if row.starts_at and row.ends_at and row.starts_at >= row.ends_at:
        raise DiscountError("A discount code must start before it ends.")
    if row.min_spend_cents < 0:
        raise DiscountError("A minimum spend cannot be negative.")


def _products(session: Session, product_ids: Iterable[int]) -> list[Product]:
    wanted = set(product_ids)
    products = list(session.scalars(select(Product).where(Product.id.in_(wanted))))
    if len(products) != len(wanted):
        raise DiscountError("A discount code can only name products that exist.")
    return products


@unit_of_work
def create_code(
    session: Session,
    code: str,
    *,
    kind: DiscountKind = DiscountKind.PERCENT,
    value: int,
    currency: str | None = None,
    product_ids: Iterable[int] = (),
    min_spend_cents: int = 0,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    once_per_shopper: bool = False,
    usage_limit: int | None = None,
    actor: str = "system",
) -> DiscountCode:
    """A new code; ``value`` is basis points for a percentage (1000 = 10 %), cents for a fixed
    amount. Given ``product_ids``, it takes money off those products only."""
    product_ids = tuple(product_ids)
    row = DiscountCode(
        code=normalize_code(code),
        kind=DiscountKind(kind),
        value=value,
        currency=currency.upper() if currency else None,
        applies_to=DiscountScope.PRODUCTS if product_ids else DiscountScope.ORDER,
        min_spend_cents=min_spend_cents,
        starts_at=starts_at,
        ends_at=ends_at,
        once_per_shopper=once_per_shopper,
        usage_limit=usage_limit,
        uses=0,
        active=True,
    )
    _check(row)
    begin_write(session)
    if session.scalar(select(DiscountCode.id).where(DiscountCode.code == row.code)):
        raise DiscountError(f"There is already a discount code {row.code}.")
    row.products = _products(session, product_ids)
    session.add(row)
    session.flush()
    audit.record(
        session,
        "discount.created",
        actor=actor,
        subject_type="discount_code",
        subject_id=row.id,
        code=row.code,
        usage_limit=usage_limit,
    )
    session.commit()
    return row
