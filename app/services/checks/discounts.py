"""Discount codes' invariants (``services.discounts``), run by ``flask holdfast verify`` with
the others in ``invariants.CHECKS``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import DiscountCode, DiscountHold, DiscountHoldState, Order


def _count(state_filter):
    return (
        select(DiscountHold.code_id, func.count().label("n"))
        .where(state_filter)
        .group_by(DiscountHold.code_id)
        .subquery()
    )


def discount_uses_match_committed_holds(session: Session, now: datetime) -> list[str]:
    """Each code's ``uses`` is its committed holds, and never more than its limit."""
    committed = _count(DiscountHold.state == DiscountHoldState.COMMITTED)
    rows = session.execute(
        select(DiscountCode.code, DiscountCode.uses, DiscountCode.usage_limit, committed.c.n)
        .outerjoin(committed, committed.c.code_id == DiscountCode.id)
        .order_by(DiscountCode.id)
    ).all()
    problems = []
    for code, uses, limit, n in rows:
        if uses != (n or 0):
            problems.append(f"code {code}: uses is {uses} but {n or 0} holds are committed")
        if limit is not None and uses > limit:
            problems.append(f"code {code}: used {uses} times, over its limit of {limit}")
    return problems


def discount_holds_within_limit(session: Session, now: datetime) -> list[str]:
    """Uses plus the holds still live at ``now`` fit a limited code's limit (an expired hold
    counts for nothing, swept or not)."""
    live = _count((DiscountHold.state == DiscountHoldState.HELD) & (DiscountHold.expires_at > now))
    rows = session.execute(
        select(DiscountCode.code, DiscountCode.uses, DiscountCode.usage_limit, live.c.n)
        .join(live, live.c.code_id == DiscountCode.id)
        .where(
            DiscountCode.usage_limit.is_not(None),
            DiscountCode.uses + live.c.n > DiscountCode.usage_limit,
        )
    ).all()
    return [
        f"code {code}: {uses} uses and {n} live holds exceed its limit of {limit}"
        for code, uses, limit, n in rows
    ]


def discount_uses_match_orders(session: Session, now: datetime) -> list[str]:
    """Every committed use belongs to the order of its checkout, priced with that code; every
    paid order priced with a code has that code's use committed for its checkout (the use is
    committed in the transaction that marks the order paid)."""
    committed = session.execute(
        select(DiscountCode.code, DiscountHold.checkout_id, Order.number, Order.discount_code)
        .join(DiscountHold, DiscountHold.code_id == DiscountCode.id)
        .outerjoin(Order, Order.checkout_id == DiscountHold.checkout_id)
        .where(
            DiscountHold.state == DiscountHoldState.COMMITTED,
            DiscountHold.checkout_id.is_not(None),  # none: taken by a service outside checkout
        )
    ).all()
    problems = [
        f"code {code}: a use is committed for checkout {checkout_id} "
        + (f"but order {number} was priced with {used or 'no code'}" if number else "with no order")
        for code, checkout_id, number, used in committed
        if number is None or used != code
    ]
    counted = {(checkout_id, code) for code, checkout_id, _n, _u in committed}
    orders = session.execute(
        select(Order.number, Order.checkout_id, Order.discount_code).where(
            Order.discount_code != "", Order.paid_at.is_not(None)
        )
    ).all()
    problems += [
        f"order {number} was priced with {code} but no use of it is committed"
        for number, checkout_id, code in orders
        if (checkout_id, code) not in counted
    ]
    return problems


CHECKS = [
    discount_uses_match_committed_holds,
    discount_holds_within_limit,
    discount_uses_match_orders,
]
