"""Discounts: how much a discount takes off, and how that amount is shared over the lines.

A discount is a percentage (in basis points: 1000 is 10 %) or a fixed amount, on the whole
order or on chosen products, with an optional minimum spend. The minimum spend and the
discount are both measured on the *eligible* lines' subtotal (the lines the discount applies
to), in the shop's prices as entered. A percentage is rounded half-up to the cent once, on the
eligible subtotal; a fixed amount is clipped to the eligible subtotal, so a discount never
takes off more than what it applies to. Shipping is never discounted here.

The amount is then shared over the eligible lines in proportion to each line's gross, by the
largest-remainder method: the shares are whole cents, sum exactly to the discount, and no share
is larger than its line.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from app.services.pricing.errors import PricingError, require_whole
from app.services.pricing.rounding import half_up, split_pro_rata


class DiscountKind(enum.StrEnum):
    PERCENTAGE = "percentage"  # value in basis points, 1 to 10000
    FIXED = "fixed"  # value in minor units of ``currency``


@dataclass(frozen=True)
class Discount:
    kind: DiscountKind
    value: int
    currency: str | None = None  # required for a fixed amount
    product_ids: frozenset[int] | None = None  # None: the whole order
    minimum_spend_cents: int = 0
    code: str = ""

    def __post_init__(self) -> None:
        if self.kind not in tuple(DiscountKind):
            raise PricingError(f"{self.kind!r} is not a kind of discount.")
        object.__setattr__(self, "kind", DiscountKind(self.kind))
        require_whole(self.value, "A discount")
        require_whole(self.minimum_spend_cents, "A minimum spend")
        if self.kind is DiscountKind.PERCENTAGE and self.value > 10_000:
            raise PricingError("A percentage discount cannot be more than 100 %.")
        if self.kind is DiscountKind.FIXED and not self.currency:
            raise PricingError("A fixed discount needs a currency.")
        if self.product_ids is not None:
            object.__setattr__(self, "product_ids", frozenset(self.product_ids))

    @classmethod
    def percentage(cls, basis_points: int, **options) -> Discount:
        return cls(DiscountKind.PERCENTAGE, basis_points, **options)

    @classmethod
    def fixed(cls, cents: int, currency: str, **options) -> Discount:
        return cls(DiscountKind.FIXED, cents, currency=currency.upper(), **options)

    def applies_to(self, product_id: int) -> bool:
        return self.product_ids is None or product_id in self.product_ids

    def amount_for(self, eligible_subtotal_cents: int) -> int:
        """What comes off an eligible subtotal: nothing below the minimum spend (or with
        nothing eligible), never more than the subtotal."""
        if eligible_subtotal_cents <= 0 or eligible_subtotal_cents < self.minimum_spend_cents:
            return 0
        if self.kind is DiscountKind.PERCENTAGE:
            return half_up(eligible_subtotal_cents * Fraction(self.value, 10_000))
        return min(self.value, eligible_subtotal_cents)


def discount_shares(
    discount: Discount | None, product_ids: Sequence[int], grosses: Sequence[int]
) -> list[int]:
    """Each line's share of ``discount``, lines given as parallel product ids and grosses."""
    if discount is None:
        return [0] * len(grosses)
    eligible = [
        gross if discount.applies_to(product) else 0
        for product, gross in zip(product_ids, grosses, strict=True)
    ]
    return split_pro_rata(discount.amount_for(sum(eligible)), eligible)
