"""How much of a refund is tax: pro rata, never more than was paid, exact when all is returned.

Two ways to refund, one per order (the split is computed from what was refunded before, so a
series of refunds must all be the same kind):

- **An amount** of the grand total. The tax returned is the paid tax × (amount refunded so far
  / grand total), rounded half-up, less what earlier refunds returned; so refunds one after
  another return, in all, the tax for everything refunded so far, and exactly the tax paid when
  the whole total has been refunded.
- **Units of lines** (variant id → quantity), optionally with the shipping. Per line, the
  line's taxable amount and its tax are each returned in proportion to units returned so far
  over units bought, rounded half-up, less earlier refunds; all units back return exactly the
  line's total and tax. Shipping is returned whole, with its tax, when the caller asks (once:
  this module keeps no record of earlier refunds).

Each refund returns at least as much money as tax, and asking for more than is left raises
``PricingError``.

An order kept in the database has no ``Quote``: ``split_paid`` and ``split_units`` take the
same rules on plain amounts (``Paid``: the grand total and its tax; ``PaidLine``: one line's
units, what they cost and their tax). ``split_paid`` can also be told the tax earlier refunds
actually returned (when some were refunds of units): the tax it returns is then what brings
the tax returned so far to the pro-rata share of the money refunded so far, never below zero,
never beyond the tax left, and exactly the tax left when the whole total has been refunded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from app.services.pricing.errors import PricingError, require_whole
from app.services.pricing.quote import Quote, QuoteLine
from app.services.pricing.rounding import half_up


@dataclass(frozen=True)
class LineRefund:
    variant_id: int
    quantity: int
    amount_cents: int  # tax included
    tax_cents: int


@dataclass(frozen=True)
class RefundSplit:
    amount_cents: int  # money back to the shopper, tax included
    tax_cents: int  # the part of it that is tax
    lines: tuple[LineRefund, ...] = ()
    shipping_cents: int = 0  # included in amount_cents, its tax in tax_cents

    @property
    def net_cents(self) -> int:
        return self.amount_cents - self.tax_cents


@dataclass(frozen=True)
class Paid:
    """What an order charged: its grand total and the tax in it."""

    total_cents: int
    tax_cents: int


@dataclass(frozen=True)
class PaidLine:
    """One line as paid: its units, what they cost (tax included) and the tax in it."""

    quantity: int
    total_cents: int
    tax_cents: int


def _portion(whole: int, part: int, of: int) -> int:
    return half_up(Fraction(whole * part, of)) if of else 0


def split_paid(
    paid: Paid,
    amount_cents: int,
    refunded_before_cents: int = 0,
    tax_returned_before_cents: int | None = None,
) -> RefundSplit:
    """The tax in a refund of ``amount_cents`` of ``paid`` after ``refunded_before_cents``
    were refunded, of which ``tax_returned_before_cents`` tax (default: their pro-rata share)."""
    total = paid.total_cents
    require_whole(amount_cents, "A refund")
    require_whole(refunded_before_cents, "What was refunded before")
    if refunded_before_cents + amount_cents > total:
        left = max(total - refunded_before_cents, 0)
        raise PricingError(f"Only {left} of {total} is left to refund.")
    after = refunded_before_cents + amount_cents
    returned = tax_returned_before_cents
    if returned is None:
        returned = _portion(paid.tax_cents, refunded_before_cents, total)
    tax_left = max(paid.tax_cents - returned, 0)
    if after == total:
        tax = tax_left
    else:
        tax = min(max(_portion(paid.tax_cents, after, total) - returned, 0), tax_left)
    return RefundSplit(amount_cents=amount_cents, tax_cents=min(tax, amount_cents))


def split_amount(quote: Quote, amount_cents: int, refunded_before_cents: int = 0) -> RefundSplit:
    """The tax in a refund of ``amount_cents`` after ``refunded_before_cents`` were refunded."""
    paid = Paid(quote.grand_total_cents, quote.tax_cents)
    return split_paid(paid, amount_cents, refunded_before_cents)


def split_units(line: PaidLine, quantity: int, before: int = 0) -> tuple[int, int]:
    """(money, tax) back for ``quantity`` units of ``line`` after ``before`` were refunded."""
    require_whole(quantity, "A quantity to refund")
    require_whole(before, "A quantity refunded before")
    if before + quantity > line.quantity:
        left = max(line.quantity - before, 0)
        raise PricingError(f"Only {left} of {line.quantity} can be refunded.")
    net = line.total_cents - line.tax_cents
    after = before + quantity
    net_back = _portion(net, after, line.quantity) - _portion(net, before, line.quantity)
    tax_back = _portion(line.tax_cents, after, line.quantity) - _portion(
        line.tax_cents, before, line.quantity
    )
    return net_back + tax_back, tax_back


def _line_refund(line: QuoteLine, quantity: int, before: int) -> LineRefund:
    if before + quantity > line.quantity:
        left = max(line.quantity - before, 0)
        raise PricingError(f"Only {left} of variant {line.variant_id} can be refunded.")
    paid = PaidLine(line.quantity, line.total_cents, line.tax_cents)
    amount, tax = split_units(paid, quantity, before)
    return LineRefund(line.variant_id, quantity, amount, tax)


def split_lines(
    quote: Quote,
    quantities: Mapping[int, int],
    returned_before: Mapping[int, int] | None = None,
    *,
    shipping: bool = False,
) -> RefundSplit:
    """The money and tax a return of ``quantities`` (variant id → units) gives back, after
    ``returned_before`` units were refunded; ``shipping`` adds the shipping and its tax."""
    before = returned_before or {}
    by_variant = {line.variant_id: line for line in quote.lines}
    unknown = (set(quantities) | set(before)) - set(by_variant)
    if unknown:
        raise PricingError(f"Variant {min(unknown)} is not on this order.")
    lines = tuple(
        _line_refund(by_variant[variant], quantity, before.get(variant, 0))
        for variant, quantity in quantities.items()
        if quantity
    )
    shipping_cents = shipping_tax = 0
    if shipping:
        shipping_tax = quote.shipping_tax_cents
        shipping_cents = quote.shipping_cents + (0 if quote.tax_included else shipping_tax)
    return RefundSplit(
        amount_cents=sum(line.amount_cents for line in lines) + shipping_cents,
        tax_cents=sum(line.tax_cents for line in lines) + shipping_tax,
        lines=lines,
        shipping_cents=shipping_cents,
    )


def refund_split(
    quote: Quote,
    refund: int | Mapping[int, int],
    before: int | Mapping[int, int] | None = None,
    *,
    shipping: bool = False,
) -> RefundSplit:
    """A refund by amount (an int) or by units of lines (a mapping); see the module."""
    if isinstance(refund, int):
        if shipping or not isinstance(before, int | None):
            raise PricingError("A refund by amount counts shipping in the amount.")
        return split_amount(quote, refund, before or 0)
    if isinstance(before, int):
        raise PricingError("A refund by units counts earlier refunds by units.")
    return split_lines(quote, refund, before, shipping=shipping)
