"""Tax rates and the tax in one amount.

A rate is a percentage (a ``Decimal`` such as ``"20"`` or ``"8.875"``; ``from_basis_points``
takes 2000 for 20 %) for a country, optionally one region of it, and a tax category (lines say
which category they are in; ``standard`` unless they say otherwise). For a destination the most
specific rate wins: a rate for the region replaces the country-wide one for that category (so
the Canary Islands can have no VAT while Spain has 21 %). Rates do not stack; an owner whose
region adds a tax to the country's enters the combined rate for the region.

The tax in an amount is computed exactly and rounded half-up to the cent, once per amount:
added on top of a tax-exclusive amount (``amount × rate``), or taken out of a tax-inclusive one
(``amount × rate / (1 + rate)``), never both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from app.services.pricing.errors import PricingError
from app.services.pricing.rounding import half_up

STANDARD = "standard"


@dataclass(frozen=True)
class Destination:
    """Where the goods go: an ISO country code and, where the shop taxes by it, a region."""

    country: str
    region: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "country", self.country.strip().upper())
        if self.region is not None:
            object.__setattr__(self, "region", self.region.strip().upper() or None)


@dataclass(frozen=True)
class TaxRate:
    percent: Decimal
    country: str
    region: str | None = None
    category: str = STANDARD
    applies_to_shipping: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        try:
            percent = Decimal(str(self.percent).strip())
        except InvalidOperation:
            raise PricingError(f"{self.percent!r} is not a tax percentage.") from None
        if not percent.is_finite() or not Decimal(0) <= percent <= Decimal(100):
            raise PricingError("A tax rate must be between 0 and 100 percent.")
        object.__setattr__(self, "percent", percent)
        where = Destination(self.country, self.region)
        object.__setattr__(self, "country", where.country)
        object.__setattr__(self, "region", where.region)

    @classmethod
    def from_basis_points(cls, basis_points: int, country: str, **options) -> TaxRate:
        return cls(Decimal(basis_points) / 100, country, **options)

    @property
    def fraction(self) -> Fraction:
        return Fraction(self.percent) / 100


def rate_for(rates: Iterable[TaxRate], where: Destination, category: str) -> TaxRate | None:
    """The rate a line of ``category`` pays at ``where``: the region's own rate, else the
    country-wide one, else none. Two rates for the same place and category are refused."""
    found: dict[str | None, TaxRate] = {}
    for rate in rates:
        if rate.country != where.country or rate.category != category:
            continue
        if rate.region not in (None, where.region):
            continue
        if rate.region in found:
            place = f"{rate.country} {rate.region or ''}".strip()
            raise PricingError(f"Two tax rates for {category} goods in {place}.")
        found[rate.region] = rate
    return found.get(where.region) or found.get(None)


def tax_in(amount_cents: int, rate: TaxRate | None, inclusive: bool) -> int:
    """The tax in ``amount_cents`` at ``rate``, rounded half-up to the cent: extracted from the
    amount when prices include tax, added to it when they do not. No rate, no tax."""
    if rate is None or amount_cents == 0:
        return 0
    share = rate.fraction / (1 + rate.fraction) if inclusive else rate.fraction
    return half_up(amount_cents * share)
