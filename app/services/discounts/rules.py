"""The rules a discount code must pass, each with the sentence the shopper is shown.

:func:`validate` reads without locking: it tells the shopper early whether a code applies. What
it says about uses ("all used up", "already used by you") is advice as of that instant; the
promise is kept by :func:`app.services.discounts.uses.hold_use`, which checks the same rules
again under the code's row lock. Claims on a code are counted from its hold rows as of ``now``:
``uses`` (committed) plus the holds still ``held`` with a deadline after ``now``. A held hold
whose deadline has passed counts for nothing, whether or not the sweeper released it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import clock
from app.models import DiscountCode, DiscountHold, DiscountHoldState, DiscountKind, DiscountScope
from app.money import format_money
from app.services.errors import Conflict, DomainError, NotFound

CODE_MAX_LENGTH = 40
DEFAULT_CURRENCY = "USD"


class DiscountError(DomainError):
    """A discount code that cannot be used as asked; the message says why."""


class UnknownCode(DiscountError, NotFound):
    pass


class CodeUsedUp(DiscountError, Conflict):
    """Every use of a limited code is committed or held by a live checkout."""


class AlreadyUsedByShopper(DiscountError, Conflict):
    pass


def normalize_code(text: str | None) -> str:
    """Codes are stored upper-case: ``welcome10`` and ``WELCOME10`` are one code."""
    code = (text or "").strip().upper()
    if not code:
        raise DiscountError("Enter a discount code.")
    if len(code) > CODE_MAX_LENGTH:
        raise UnknownCode(f"There is no discount code “{code[:CODE_MAX_LENGTH]}…”.")
    return code


def shopper_key(email: str | None = None, user_id: int | None = None) -> str:
    """Who counts as one shopper for once-per-shopper codes: the e-mail address lower-cased
    (a guest and a signed-in customer with one address are one shopper), else ``user:<id>``."""
    if email and email.strip():
        return email.strip().lower()[:254]
    if user_id is not None:
        return f"user:{user_id}"
    raise DiscountError("A discount code needs your e-mail address.")


def find_code(session: Session, code: str) -> DiscountCode:
    normalized = normalize_code(code)
    row = session.scalar(select(DiscountCode).where(DiscountCode.code == normalized))
    if row is None or not row.active:
        raise UnknownCode(f"There is no discount code “{normalized}”. Check its spelling.")
    return row


def _when(moment: datetime) -> str:
    return f"{moment:%-d %b %Y, %H:%M} UTC"


def check_dates(code: DiscountCode, now: datetime) -> None:
    if not code.active:
        raise UnknownCode(f"There is no discount code “{code.code}”. Check its spelling.")
    if code.starts_at is not None and now < code.starts_at:
        raise DiscountError(f"The code {code.code} can be used from {_when(code.starts_at)}.")
    if code.ends_at is not None and now >= code.ends_at:
        raise DiscountError(f"The code {code.code} ended on {_when(code.ends_at)}.")


def check_spend(
    code: DiscountCode,
    subtotal_cents: int,
    currency: str | None = None,
    product_ids: Iterable[int] | None = None,
) -> None:
    """Minimum spend, the fixed amount's currency and, for a products code, that the cart has
    at least one of its products (when ``product_ids`` are given)."""
    money = code.currency or currency or DEFAULT_CURRENCY
    if code.kind is DiscountKind.FIXED and currency and currency.upper() != code.currency:
        raise DiscountError(f"The code {code.code} is for orders paid in {code.currency}.")
    if subtotal_cents < code.min_spend_cents:
        raise DiscountError(
            f"The code {code.code} needs a subtotal of at least "
            f"{format_money(code.min_spend_cents, money)}; yours is "
            f"{format_money(subtotal_cents, money)}."
        )
    scoped = code.applies_to is DiscountScope.PRODUCTS and product_ids is not None
    if scoped and not {p.id for p in code.products} & set(product_ids):
        raise DiscountError(f"The code {code.code} does not apply to anything in your cart.")


def _live(now: datetime):
    return (DiscountHold.state == DiscountHoldState.HELD) & (DiscountHold.expires_at > now)


def live_holds(session: Session, code_id: int, now: datetime) -> int:
    """Holds on ``code_id`` still reserving a use at ``now``."""
    return session.scalar(
        select(func.count())
        .select_from(DiscountHold)
        .where(DiscountHold.code_id == code_id, _live(now))
    )


def check_free(session: Session, code: DiscountCode, now: datetime) -> None:
    """A limited code has a use left: ``uses`` + live holds < ``usage_limit``."""
    if code.usage_limit is None:
        return
    if code.uses + live_holds(session, code.id, now) >= code.usage_limit:
        raise CodeUsedUp(f"The code {code.code} has been used up.")


def check_shopper(
    session: Session, code: DiscountCode, shopper: str, now: datetime, *, other_than: int = 0
) -> None:
    """A once-per-shopper code: no committed use and no live hold of this shopper (other than
    the hold ``other_than``)."""
    if not code.once_per_shopper:
        return
    states = session.execute(
        select(DiscountHold.state, DiscountHold.expires_at).where(
            DiscountHold.code_id == code.id,
            DiscountHold.shopper_key == shopper,
            DiscountHold.id != other_than,
            (DiscountHold.state == DiscountHoldState.COMMITTED) | _live(now),
        )
    ).all()
    if any(state is DiscountHoldState.COMMITTED for state, _ in states):
        raise AlreadyUsedByShopper(f"You have already used the code {code.code}.")
    if states:
        raise AlreadyUsedByShopper(
            f"The code {code.code} is already applied to another checkout of yours; "
            "finish or cancel that one first."
        )


def validate(
    session: Session,
    code: str,
    subtotal_cents: int,
    shopper: str,
    now: datetime | None = None,
    *,
    currency: str | None = None,
    product_ids: Iterable[int] | None = None,
) -> DiscountCode:
    """The code, if ``shopper`` may use it on a cart of ``subtotal_cents`` at ``now``; else a
    :class:`DiscountError` saying why. Reads only."""
    now = clock.now(now)
    row = find_code(session, code)
    check_dates(row, now)
    check_spend(row, subtotal_cents, currency, product_ids)
    check_shopper(session, row, shopper, now)
    check_free(session, row, now)
    return row
