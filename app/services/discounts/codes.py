"""Creating discount codes and changing their limit, end and active flag (the admin's pages
and the demo seed call these).

A code is unique: a second code of the same name is refused with "There is already a discount
code X.", whether the check sees the first one or the unique constraint does (two owners
saving at once). A code's usage limit never goes below what is already claimed: its ``uses``
plus its live holds, counted under the code's row lock (``locks.lock_discount_code``), the lock
``uses.hold_use`` takes, so no shopper takes a use between the count and the change."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.models import DiscountCode, DiscountKind, DiscountScope, Product
from app.services import audit, locks
from app.services.discounts.rules import DiscountError, live_holds, normalize_code
from app.services.errors import NotFound
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
    try:
        session.flush()
    except IntegrityError:  # another save made the code between the check and here
        session.rollback()
        raise DiscountError(f"There is already a discount code {row.code}.") from None
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


KEEP: Any = object()  # update_code: leave this setting as it is


def _claimed(session: Session, code: DiscountCode, now: datetime) -> tuple[int, int]:
    return code.uses, live_holds(session, code.id, now)


def _refuse_limit(session: Session, code: DiscountCode, limit: int | None, now: datetime):
    if limit is None or (code.usage_limit is not None and limit >= code.usage_limit):
        return  # unlimited, or not lower: nothing claimed can be lost
    uses, held = _claimed(session, code, now)
    if limit < uses + held:
        raise DiscountError(
            f"{code.code} has {uses} use(s) and {held} live hold(s) at checkouts, so its "
            f"usage limit cannot go below {uses + held}."
        )


def _audited(row: DiscountCode) -> dict[str, Any]:
    return {
        "usage_limit": row.usage_limit,
        "ends_at": row.ends_at.isoformat() if row.ends_at else None,
        "active": row.active,
    }


@unit_of_work
def update_code(
    session: Session,
    code_id: int,
    *,
    usage_limit: int | None = KEEP,
    ends_at: datetime | None = KEEP,
    active: bool = KEEP,
    actor: str = "system",
    now: datetime | None = None,
) -> bool:
    """Change a code's usage limit (None: unlimited), end (None: never) or active flag; each
    left as it is unless given. Returns whether anything changed. The code's row is locked
    first; a limit below its uses plus its live holds is refused and nothing changes."""
    now = clock.now(now)
    row = locks.lock_discount_code(session, code_id)
    if row is None:
        raise NotFound("There is no such discount code.")
    before = _audited(row)
    if usage_limit is not KEEP:
        _refuse_limit(session, row, usage_limit, now)
        row.usage_limit = usage_limit
    if ends_at is not KEEP:
        row.ends_at = ends_at
    if active is not KEEP:
        row.active = bool(active)
    _check(row)
    return audit.commit_changes(
        session,
        "discount.updated",
        before,
        _audited(row),
        actor=actor,
        subject_type="discount_code",
        subject_id=row.id,
        code=row.code,
    )
