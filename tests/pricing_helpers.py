"""Shipping zones, rates and tax rates for tests, made as rows (the admin pages make them the
same way), and reading the totals a shopper is shown on the review page."""

from __future__ import annotations

import re

from app.models import RateKind, ShippingPlace, ShippingRate, ShippingZone, TaxRate
from app.services.admin.settings import set_setting


def zone(db, name: str, *places: str, rest_of_world: bool = False) -> ShippingZone:
    """``places``: "US" for a whole country, "US-CA" for one region of it."""
    row = ShippingZone(name=name, rest_of_world=rest_of_world)
    for place in places:
        country, _, region = place.partition("-")
        row.places.append(ShippingPlace(country=country, region=region))
    db.add(row)
    db.commit()
    return row


def rate(
    db,
    zone_row: ShippingZone,
    name: str,
    price_cents: int = 0,
    *,
    bands: list[tuple[int, int]] | None = None,
    free_above_cents: int | None = None,
    currency: str = "USD",
) -> ShippingRate:
    row = ShippingRate(
        zone_id=zone_row.id,
        name=name,
        kind=RateKind.WEIGHT if bands else RateKind.FLAT,
        price_cents=price_cents,
        bands=[list(band) for band in bands or []],
        free_above_cents=free_above_cents,
        currency=currency,
    )
    db.add(row)
    db.commit()
    return row


def tax_rate(
    db, country: str, thousandths: int, *, region: str = "", on_shipping: bool = False
) -> TaxRate:
    row = TaxRate(
        name=f"Tax {country}",
        country=country,
        region=region,
        percent_thousandths=thousandths,
        applies_to_shipping=on_shipping,
    )
    db.add(row)
    db.commit()
    return row


def prices_include_tax(db, include: bool) -> None:
    set_setting(db, "prices_include_tax", include, actor="test")


def shown_cents(page: str, element_id: str) -> int | None:
    """The amount the review page shows in ``#element_id`` (its ``data-cents``)."""
    match = re.search(rf'id="{element_id}" data-cents="(\d+)"', page)
    return int(match.group(1)) if match else None


def review_totals(page: str) -> dict[str, int | None]:
    names = ("subtotal", "discount", "shipping", "tax", "total")
    return {name: shown_cents(page, f"checkout-{name}") for name in names}
