"""The demo shop sells like a shop: where it ships and at what price, the tax it charges at
home, and two discount codes.

``ensure_selling(session, country, currency)`` promises, in the caller's transaction (the seed
commits once):
- a "Domestic" zone for the shop's country with a flat "Standard" rate (5.00, free from 75.00)
  and a weight-band "Express" rate; an "International" rest-of-the-world zone with a
  weight-band "International" rate;
- one tax rate for the shop's whole country (US: 7.25 % sales tax, not on shipping), prices
  entered without tax (the shop's default setting is left alone);
- WELCOME10 (10 % off the order, once per shopper, no total limit) and FIRST100 (15 % off,
  the first 100 uses);
- it is idempotent like the rest of the seed: a zone is found by name (and is not made when
  its place, or the rest of the world, already belongs to another zone), a rate by its zone
  and name, a tax rate by its place, a code by its name; what exists is left as it is.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    DiscountCode,
    DiscountKind,
    DiscountScope,
    RateKind,
    ShippingPlace,
    ShippingRate,
    ShippingZone,
    TaxRate,
)

# country → (thousandths of a percent, name, taxed on shipping); others get TAX_FALLBACK.
TAXES = {
    "US": (7250, "Sales tax", False),
    "CA": (5000, "GST", True),
    "GB": (20000, "VAT", True),
    "DE": (19000, "MwSt.", True),
    "FR": (20000, "TVA", True),
    "AU": (10000, "GST", True),
    "IN": (18000, "GST", True),
}
TAX_FALLBACK = (10000, "Tax", False)

# (zone, rest of the world, [(rate, kind, flat price, bands, free from)])
ZONES = (
    (
        "Domestic",
        False,
        [
            ("Standard", RateKind.FLAT, 500, [], 7500),
            ("Express", RateKind.WEIGHT, 0, [[1000, 1200], [5000, 1900], [20000, 3500]], None),
        ],
    ),
    (
        "International",
        True,
        [("International", RateKind.WEIGHT, 0, [[500, 1400], [2000, 2600], [10000, 5500]], None)],
    ),
)

# (code, basis points off, once per shopper, usage limit)
CODES = (("WELCOME10", 1000, True, None), ("FIRST100", 1500, False, 100))


def ensure_selling(session: Session, country: str, currency: str) -> None:
    country = (country or "US").strip().upper()
    for name, rest_of_world, rates in ZONES:
        zone = _ensure_zone(session, name, None if rest_of_world else country)
        if zone is not None:
            _ensure_rates(session, zone, rates, currency)
    _ensure_tax(session, country)
    _ensure_codes(session)


def _ensure_zone(session: Session, name: str, country: str | None) -> ShippingZone | None:
    """The zone ``name`` (for ``country``, or the rest of the world when None), made when
    missing and its place is free; None when another zone already covers it."""
    zone = session.scalar(select(ShippingZone).where(ShippingZone.name == name))
    if zone is not None:
        return zone
    if country is None:
        if session.scalar(select(ShippingZone.id).where(ShippingZone.rest_of_world)):
            return None
        zone = ShippingZone(name=name, rest_of_world=True, position=1)
    else:
        taken = select(ShippingPlace.id).where(
            ShippingPlace.country == country, ShippingPlace.region == ""
        )
        if session.scalar(taken) is not None:
            return None
        zone = ShippingZone(name=name, places=[ShippingPlace(country=country, region="")])
    session.add(zone)
    session.flush()
    return zone


def _ensure_rates(session: Session, zone: ShippingZone, rates, currency: str) -> None:
    have = set(session.scalars(select(ShippingRate.name).where(ShippingRate.zone_id == zone.id)))
    for position, (name, kind, price, bands, free) in enumerate(rates):
        if name in have:
            continue
        session.add(
            ShippingRate(
                zone_id=zone.id,
                name=name,
                kind=kind,
                price_cents=price,
                bands=bands,
                free_above_cents=free,
                currency=currency,
                position=position,
            )
        )


def _ensure_tax(session: Session, country: str) -> None:
    exists = session.scalar(
        select(TaxRate.id).where(
            TaxRate.country == country, TaxRate.region == "", TaxRate.category == "standard"
        )
    )
    if exists is not None:
        return
    percent, name, on_shipping = TAXES.get(country, TAX_FALLBACK)
    session.add(
        TaxRate(
            name=name,
            country=country,
            region="",
            category="standard",
            percent_thousandths=percent,
            applies_to_shipping=on_shipping,
        )
    )


def _ensure_codes(session: Session) -> None:
    names = [code for code, *_ in CODES]
    have = set(session.scalars(select(DiscountCode.code).where(DiscountCode.code.in_(names))))
    for code, value, once, limit in CODES:
        if code in have:
            continue
        session.add(
            DiscountCode(
                code=code,
                kind=DiscountKind.PERCENT,
                value=value,
                applies_to=DiscountScope.ORDER,
                min_spend_cents=0,
                once_per_shopper=once,
                usage_limit=limit,
                uses=0,
                active=True,
            )
        )
