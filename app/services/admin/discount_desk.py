"""The owner's discount codes (``/admin/discounts``): each code with its terms, its uses so far
and the uses live checkouts hold right now; and reading what the owner types for a new code.

Creating and changing a code is ``services.discounts.codes`` (``create_code``,
``update_code``): this module only reads, and turns text into the values those take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app import clock
from app.models import DiscountCode, DiscountHold, DiscountHoldState, DiscountKind, Product
from app.money import format_money, parse_money
from app.services.errors import DomainError, NotFound

PERCENT = re.compile(r"^([0-9]{1,3})(?:\.([0-9]{1,2}))?\s*%?$")
MAX_LIMIT = 10_000_000


@dataclass(frozen=True)
class CodeRow:
    code: DiscountCode
    live_holds: int

    @property
    def claimed(self) -> int:
        return self.code.uses + self.live_holds


def parse_percent(text: str) -> int:
    """``10`` or ``12.5`` (percent) as basis points: 1000, 1250."""
    match = PERCENT.match((text or "").strip())
    if match is None:
        raise DomainError("Enter the percentage off as a number such as 10 or 12.5.")
    return int(match.group(1)) * 100 + int((match.group(2) or "").ljust(2, "0"))


def parse_value(kind: DiscountKind, text: str, currency: str) -> int:
    """The discount's ``value``: basis points for a percentage, cents for a fixed amount."""
    if kind is DiscountKind.PERCENT:
        return parse_percent(text)
    try:
        return parse_money(text, currency)
    except ValueError as exc:
        raise DomainError(f"Amount off: {exc}") from None


def parse_limit(value: int | None) -> int | None:
    if value is None:
        return None
    if not 1 <= value <= MAX_LIMIT:
        raise DomainError("A usage limit is a whole number from 1 (leave it empty: unlimited).")
    return value


def value_text(code: DiscountCode) -> str:
    """What the code takes off, as the owner reads it: "10 %", "$5.00"."""
    if code.kind is DiscountKind.PERCENT:
        whole, fraction = divmod(code.value, 100)
        return f"{whole}.{fraction:02d}".rstrip("0").rstrip(".") + " %"
    return format_money(code.value, code.currency or "USD")


def _live_counts(session: Session, now: datetime) -> dict[int, int]:
    rows = session.execute(
        select(DiscountHold.code_id, func.count())
        .where(DiscountHold.state == DiscountHoldState.HELD, DiscountHold.expires_at > now)
        .group_by(DiscountHold.code_id)
    )
    return {code_id: n for code_id, n in rows}


def list_codes(session: Session, now: datetime | None = None) -> list[CodeRow]:
    """Every code, newest first, with its live holds at ``now`` (held, deadline after now)."""
    now = clock.now(now)
    live = _live_counts(session, now)
    codes = session.scalars(
        select(DiscountCode)
        .options(selectinload(DiscountCode.products))
        .order_by(DiscountCode.created_at.desc(), DiscountCode.id.desc())
    )
    return [CodeRow(code, live.get(code.id, 0)) for code in codes]


def get_code(session: Session, code_id: int, now: datetime | None = None) -> CodeRow:
    code = session.get(DiscountCode, code_id)
    if code is None:
        raise NotFound("There is no such discount code.")
    return CodeRow(code, _live_counts(session, clock.now(now)).get(code_id, 0))


def product_choices(session: Session) -> list[tuple[int, str]]:
    """Products a code can be limited to (archived ones too, marked)."""
    rows = session.execute(
        select(Product.id, Product.name, Product.is_active).order_by(Product.name, Product.id)
    )
    return [(pid, name if active else f"{name} (archived)") for pid, name, active in rows]
