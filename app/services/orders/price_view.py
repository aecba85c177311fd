"""An order's prices as people read them: each line's unit price, quantity, discount and tax,
then the totals block (Subtotal, Discount with its code, Shipping with its rate, Tax, Total).
The one place the order page, the admin's order page and the order emails get them from
(``templates/partials/order_totals.html`` shows the rows on pages; the emails' ``_parts``
show the same rows), with every amount already formatted.

Works on anything with the ``PriceBreakdown`` columns and a ``total_cents`` (an order, or the
checkout it came from). The rows:

- **Subtotal**: the lines at their prices as entered, before any discount.
- **Discount** (with the code), when one took something off.
- **Shipping** (with the rate's name): "Free" when nothing was charged on an order with
  physical goods; no row at all for an order of digital goods only.
- **Tax**: a row added before the total when the shop's prices exclude tax; when they include
  it, a note after the total ("Includes $6.67 tax"). No row when no tax was charged.
- **Total**: what the provider charged.

A breakdown that does not add up to the total (an order kept before breakdowns existed whose
columns were never filled in) shows the total alone rather than sums that disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from app.models import Order
from app.money import format_money
from app.services.orders import shopper_words


class Priced(Protocol):
    subtotal_cents: int
    discount_cents: int
    shipping_cents: int
    shipping_tax_cents: int
    tax_cents: int
    prices_include_tax: bool
    shipping_name: str
    discount_code: str
    total_cents: int
    currency: str


class PricedLine(Protocol):
    name: str
    sku: str
    quantity: int
    unit_price_cents: int
    discount_cents: int
    tax_cents: int
    tax_percent: str


@dataclass(frozen=True)
class TotalRow:
    """One row of the totals block. ``kind``: subtotal, discount, shipping, tax, total or
    tax_included (the note after the total); ``value``: the amount as shown ("Free" for free
    shipping, "-$10.00" for a discount)."""

    kind: str
    label: str
    value: str
    cents: int


@dataclass(frozen=True)
class LineView:
    name: str
    sku: str
    quantity: int
    unit_price: str
    line_total: str  # unit price × quantity, as entered
    discount: str  # "" when the line had none
    tax_rate: str  # "20%", "" when no rate applied
    tax: str  # "" when the line carried none

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def adds_up(priced: Priced) -> bool:
    """Whether the breakdown makes the total (``PriceBreakdown``'s rule)."""
    total = priced.subtotal_cents - priced.discount_cents + priced.shipping_cents
    if not priced.prices_include_tax:
        total += priced.tax_cents
    return total == priced.total_cents


def totals(priced: Priced, *, ships: bool) -> list[TotalRow]:
    """The totals block of ``priced``; ``ships``: it holds physical goods."""

    def money(cents: int) -> str:
        return format_money(cents, priced.currency)

    total = TotalRow("total", "Total", money(priced.total_cents), priced.total_cents)
    if not adds_up(priced):
        return [total]
    rows = [TotalRow("subtotal", "Subtotal", money(priced.subtotal_cents), priced.subtotal_cents)]
    if priced.discount_cents:
        label = f"Discount ({priced.discount_code})" if priced.discount_code else "Discount"
        rows.append(
            TotalRow("discount", label, money(-priced.discount_cents), -priced.discount_cents)
        )
    if ships or priced.shipping_cents:
        label = f"Shipping ({priced.shipping_name})" if priced.shipping_name else "Shipping"
        value = money(priced.shipping_cents) if priced.shipping_cents else "Free"
        rows.append(TotalRow("shipping", label, value, priced.shipping_cents))
    tax = priced.tax_cents
    if tax and not priced.prices_include_tax:
        rows.append(TotalRow("tax", "Tax", money(tax), tax))
    rows.append(total)
    if tax and priced.prices_include_tax:
        rows.append(TotalRow("tax_included", "Includes tax", money(tax), tax))
    return rows


def tax_rate_text(percent: str) -> str:
    return f"{percent}%" if percent else ""


def line_view(line: PricedLine, currency: str) -> LineView:
    def money(cents: int) -> str:
        return format_money(cents, currency)

    return LineView(
        name=line.name,
        sku=line.sku,
        quantity=line.quantity,
        unit_price=money(line.unit_price_cents),
        line_total=money(line.unit_price_cents * line.quantity),
        discount=money(-line.discount_cents) if line.discount_cents else "",
        tax_rate=tax_rate_text(line.tax_percent),
        tax=money(line.tax_cents) if line.tax_cents or line.tax_percent else "",
    )


@dataclass(frozen=True)
class PriceView:
    lines: list[LineView]
    rows: list[TotalRow]
    any_discount: bool  # a line column for discounts is worth showing
    any_tax: bool  # and one for tax
    prices_include_tax: bool

    @property
    def columns(self) -> int:
        """The line columns prices take: price, discount and tax when any, total."""
        return 2 + int(self.any_discount) + int(self.any_tax)

    def as_context(self) -> dict[str, Any]:
        """The view as plain JSON values (an email's stored context)."""
        return {
            "lines": [line.as_dict() for line in self.lines],
            "rows": [asdict(row) for row in self.rows],
            "any_discount": self.any_discount,
            "any_tax": self.any_tax,
            "prices_include_tax": self.prices_include_tax,
        }


def describe(priced: Priced, lines: Iterable[PricedLine], *, ships: bool) -> PriceView:
    """Lines and totals of ``priced`` (an order or a checkout) for a page or an email."""
    lines = list(lines)
    return PriceView(
        lines=[line_view(line, priced.currency) for line in lines],
        rows=totals(priced, ships=ships),
        any_discount=any(line.discount_cents for line in lines),
        any_tax=any(line.tax_cents or line.tax_percent for line in lines),
        prices_include_tax=priced.prices_include_tax,
    )


def for_order(order: Order) -> PriceView:
    """An order's prices; it ships when any line is not digital."""
    ships = not all(shopper_words.is_digital(line) for line in order.lines)
    return describe(order, order.lines, ships=ships)
