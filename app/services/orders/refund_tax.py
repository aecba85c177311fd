"""How much of an order's refund is tax: ``services.pricing.refunds`` on the order's rows.

Two kinds of refund, one rule each (the pricing module says why):

- **An amount** (the owner's refund, a cancellation): the tax returned is the tax paid in
  proportion to the money refunded so far, less the tax earlier refunds of the order returned;
  the refund that brings the order's refunds to its total returns exactly the tax left.
- **Units of a line** (a return): the units' share of what the line cost (after its discount,
  tax included) and of its tax, in proportion to units over units bought; the last units back
  return the rest of the line exactly.

Either way the tax returned over all of an order's refunds never exceeds the tax it paid. The
tax is fixed when the provider confirms the refund, under the payment's lock (so two refunds
at once still count each other), and kept on ``Refund.tax_cents``. Orders from before
migration 0014 paid no tax: their refunds return none.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Order, OrderLine, Refund, RefundStatus, Return, ReturnState
from app.services.pricing.refunds import Paid, PaidLine, split_paid, split_units


def line_paid_cents(line: OrderLine, prices_include_tax: bool) -> int:
    """What the shopper paid for ``line``: after its discount, tax included."""
    return line.net_cents if prices_include_tax else line.net_cents + line.tax_cents


def _refunded_before(session: Session, order_id: int, refund_id: int) -> tuple[int, int]:
    """(money, tax) the order's other succeeded refunds returned."""
    money, tax = session.execute(
        select(
            func.coalesce(func.sum(Refund.amount_cents), 0),
            func.coalesce(func.sum(Refund.tax_cents), 0),
        ).where(
            Refund.order_id == order_id,
            Refund.status == RefundStatus.SUCCEEDED,
            Refund.id != refund_id,
        )
    ).one()
    return int(money), int(tax)


def tax_of_refund(
    session: Session, order: Order, refund: Refund, units_tax_cents: int | None = None
) -> int:
    """The tax in ``refund`` of ``order`` (a refund of units passes their tax, as
    :func:`units_refund` gave it; an amount refund is split pro rata)."""
    before_money, before_tax = _refunded_before(session, order.id, refund.id)
    tax_left = max(order.tax_cents - before_tax, 0)
    if units_tax_cents is not None:
        return max(min(units_tax_cents, tax_left, refund.amount_cents), 0)
    total = order.total_cents
    before = min(before_money, total)
    amount = max(min(refund.amount_cents, total - before), 0)
    if amount == 0 or order.tax_cents == 0:
        return 0
    split = split_paid(Paid(total, order.tax_cents), amount, before, before_tax)
    return split.tax_cents


def units_refund(session: Session, ret: Return) -> tuple[int, int]:
    """(money, tax) to give back for a return: its units' share of its line, after the
    units of the line's returns received before it."""
    line, order = ret.line, ret.line.order
    before = session.scalar(
        select(func.coalesce(func.sum(Return.quantity), 0)).where(
            Return.order_line_id == line.id,
            Return.state == ReturnState.RECEIVED,
            Return.id != ret.id,
        )
    )
    before = min(int(before), line.quantity - ret.quantity)
    paid = PaidLine(line.quantity, line_paid_cents(line, order.prices_include_tax), line.tax_cents)
    return split_units(paid, ret.quantity, max(before, 0))
