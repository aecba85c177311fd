"""A cart priced: lines, discount, shipping and tax in, a ``Quote`` with every amount out.

Pure: plain frozen dataclasses in and out, no database, no Flask, no I/O, all money integer
minor units of one currency. The rules (the package docstring says why):

1. Each line's gross is unit price × quantity, in the shop's prices as entered.
2. The discount is taken from the eligible lines' subtotal and shared over them by the
   largest-remainder method (``discounts``); shares sum exactly to the discount.
3. Each line's tax is computed on its discounted amount at its own rate and rounded half-up to
   the cent (``tax``): added when prices exclude tax, extracted when they include it.
4. Shipping is priced by the chosen rate on the discounted subtotal and the physical lines'
   weight; a cart of digital goods only has no shipping. Shipping is taxed at the destination's
   standard rate when that rate applies to shipping, the same way as lines.
5. Grand total = lines subtotal − discount + shipping, plus all tax when prices exclude it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from app.services.pricing.discounts import Discount, DiscountKind, discount_shares
from app.services.pricing.errors import PricingError, require_whole
from app.services.pricing.shipping import ShippingRate
from app.services.pricing.tax import STANDARD, Destination, TaxRate, rate_for, tax_in


class TaxMode(enum.StrEnum):
    INCLUSIVE = "inclusive"  # prices as entered include tax; tax is extracted
    EXCLUSIVE = "exclusive"  # tax is added on top of prices as entered


@dataclass(frozen=True)
class CartLine:
    variant_id: int
    product_id: int
    unit_price_cents: int
    quantity: int
    tax_category: str = STANDARD
    weight_grams: int = 0  # per unit
    is_digital: bool = False

    def __post_init__(self) -> None:
        require_whole(self.unit_price_cents, "A price")
        require_whole(self.weight_grams, "A weight")
        require_whole(self.quantity, "A quantity")
        if self.quantity < 1:
            raise PricingError("A line's quantity must be at least 1.")

    @property
    def gross_cents(self) -> int:
        return self.unit_price_cents * self.quantity


@dataclass(frozen=True)
class PriceRequest:
    """Everything a quote depends on. No destination yet: no tax. No rate yet: no shipping
    charge (``Quote.requires_shipping`` says whether the cart still needs one)."""

    currency: str
    lines: tuple[CartLine, ...]
    tax_mode: TaxMode = TaxMode.EXCLUSIVE
    destination: Destination | None = None
    tax_rates: tuple[TaxRate, ...] = ()
    shipping_rate: ShippingRate | None = None
    discount: Discount | None = None

    def __post_init__(self) -> None:
        if self.tax_mode not in tuple(TaxMode):
            raise PricingError(f"{self.tax_mode!r} is not a tax mode (inclusive or exclusive).")
        object.__setattr__(self, "tax_mode", TaxMode(self.tax_mode))
        object.__setattr__(self, "currency", self.currency.upper())
        object.__setattr__(self, "lines", tuple(self.lines))
        object.__setattr__(self, "tax_rates", tuple(self.tax_rates))


@dataclass(frozen=True)
class QuoteLine:
    variant_id: int
    product_id: int
    quantity: int
    gross_cents: int  # unit price × quantity, as entered
    discount_cents: int  # this line's share of the discount
    taxable_cents: int  # the amount the tax is charged on, tax excluded
    tax_cents: int
    total_cents: int  # what the shopper pays for the line, tax included
    tax_percent: Decimal | None  # None: no tax rate applies


@dataclass(frozen=True)
class Quote:
    currency: str
    tax_mode: TaxMode
    lines: tuple[QuoteLine, ...]
    lines_subtotal_cents: int
    discount_cents: int
    shipping_cents: int  # as entered: tax included when the shop's prices include it
    shipping_tax_cents: int
    tax_cents: int  # lines' tax plus shipping tax
    grand_total_cents: int
    requires_shipping: bool
    weight_grams: int
    discount_code: str | None  # the code that took something off, if one did

    @property
    def tax_included(self) -> bool:
        return self.tax_mode is TaxMode.INCLUSIVE


def _check(request: PriceRequest) -> str:
    currency = request.currency
    variants = [line.variant_id for line in request.lines]
    if len(set(variants)) != len(variants):
        raise PricingError("Each variant may appear on one line only.")
    rate, discount = request.shipping_rate, request.discount
    if rate is not None and rate.currency.upper() != currency:
        raise PricingError(f"That shipping rate is priced in {rate.currency}, not {currency}.")
    if discount and discount.kind is DiscountKind.FIXED and discount.currency != currency:
        raise PricingError(f"That discount is in {discount.currency}, not {currency}.")
    return currency


def _price_line(line: CartLine, share: int, request: PriceRequest) -> QuoteLine:
    inclusive = request.tax_mode is TaxMode.INCLUSIVE
    rate = _rate(request, line.tax_category)
    net = line.gross_cents - share
    tax = tax_in(net, rate, inclusive)
    return QuoteLine(
        variant_id=line.variant_id,
        product_id=line.product_id,
        quantity=line.quantity,
        gross_cents=line.gross_cents,
        discount_cents=share,
        taxable_cents=net - tax if inclusive else net,
        tax_cents=tax,
        total_cents=net if inclusive else net + tax,
        tax_percent=rate.percent if rate else None,
    )


def _rate(request: PriceRequest, category: str) -> TaxRate | None:
    if request.destination is None:
        return None
    return rate_for(request.tax_rates, request.destination, category)


def _shipping(request: PriceRequest, goods_cents: int, weight: int) -> tuple[int, int]:
    """The shipping price and its tax."""
    if request.shipping_rate is None or all(line.is_digital for line in request.lines):
        return 0, 0
    price = request.shipping_rate.price_for(goods_cents, weight)
    if price is None:
        raise PricingError(f"That shipping rate cannot carry {weight} g; choose another.")
    rate = _rate(request, STANDARD)
    if rate is None or not rate.applies_to_shipping:
        return price, 0
    return price, tax_in(price, rate, request.tax_mode is TaxMode.INCLUSIVE)


def quote(request: PriceRequest) -> Quote:
    """The priced cart. Raises ``PricingError`` for what cannot be priced as given."""
    currency = _check(request)
    lines = request.lines
    shares = discount_shares(
        request.discount, [line.product_id for line in lines], [line.gross_cents for line in lines]
    )
    priced = tuple(
        _price_line(line, share, request) for line, share in zip(lines, shares, strict=True)
    )
    subtotal = sum(line.gross_cents for line in priced)
    discount = sum(shares)
    weight = sum(line.weight_grams * line.quantity for line in lines if not line.is_digital)
    shipping, shipping_tax = _shipping(request, subtotal - discount, weight)
    tax = sum(line.tax_cents for line in priced) + shipping_tax
    total = subtotal - discount + shipping
    if request.tax_mode is TaxMode.EXCLUSIVE:
        total += tax
    return Quote(
        currency=currency,
        tax_mode=request.tax_mode,
        lines=priced,
        lines_subtotal_cents=subtotal,
        discount_cents=discount,
        shipping_cents=shipping,
        shipping_tax_cents=shipping_tax,
        tax_cents=tax,
        grand_total_cents=total,
        requires_shipping=any(not line.is_digital for line in lines),
        weight_grams=weight,
        discount_code=request.discount.code if discount and request.discount else None,
    )
