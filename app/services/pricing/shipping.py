"""Shipping rates: what one rate charges for a cart, from the cart's subtotal and weight.

A rate is a small frozen dataclass with ``price_for(subtotal_cents, weight_grams)``, which
answers the price in the rate's currency, or ``None`` when the rate cannot carry the cart (it
is heavier than the rate's last weight band). The price is entered the way the shop enters
prices (tax-inclusive or -exclusive, see ``quote``). The subtotal a rate sees is the lines'
subtotal after discounts: "free above $50" means $50 the shopper actually pays for goods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.services.pricing.errors import PricingError, require_whole


class ShippingRate(Protocol):
    currency: str

    def price_for(self, subtotal_cents: int, weight_grams: int) -> int | None: ...


@dataclass(frozen=True)
class FlatRate:
    """The same price for every order."""

    price_cents: int
    currency: str = "USD"

    def __post_init__(self) -> None:
        require_whole(self.price_cents, "A flat rate's price")

    def price_for(self, subtotal_cents: int, weight_grams: int) -> int | None:
        return self.price_cents


@dataclass(frozen=True)
class WeightBand:
    """Up to and including ``up_to_grams``, the price is ``price_cents``."""

    up_to_grams: int
    price_cents: int

    def __post_init__(self) -> None:
        require_whole(self.up_to_grams, "A weight band's upper weight")
        require_whole(self.price_cents, "A weight band's price")


@dataclass(frozen=True)
class WeightBandRate:
    """The price of the lightest band the cart's weight fits in; none past the last band."""

    bands: tuple[WeightBand, ...]
    currency: str = "USD"

    def __post_init__(self) -> None:
        if not self.bands:
            raise PricingError("A weight-band rate needs at least one band.")
        limits = [band.up_to_grams for band in self.bands]
        if limits != sorted(set(limits)):
            raise PricingError("Weight bands must go up in weight, each limit once.")

    def price_for(self, subtotal_cents: int, weight_grams: int) -> int | None:
        for band in self.bands:
            if weight_grams <= band.up_to_grams:
                return band.price_cents
        return None


@dataclass(frozen=True)
class FreeAbove:
    """Free when the subtotal reaches ``threshold_cents``; below it, what ``otherwise`` charges."""

    threshold_cents: int
    otherwise: FlatRate | WeightBandRate

    def __post_init__(self) -> None:
        require_whole(self.threshold_cents, "A free-shipping threshold")

    @property
    def currency(self) -> str:
        return self.otherwise.currency

    def price_for(self, subtotal_cents: int, weight_grams: int) -> int | None:
        if subtotal_cents >= self.threshold_cents:
            return 0
        return self.otherwise.price_for(subtotal_cents, weight_grams)
