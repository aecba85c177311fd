"""Helpers for tests of orders with a price breakdown (tests/integration/test_order_breakdown.py
and the provider checkout test): a shop that ships to the UK at a flat rate and charges 20 %
VAT on goods and shipping, with prices entered with or without tax; and an order bought through
the pages (testpay) that the checkout priced with them."""

from __future__ import annotations

from sqlalchemy import select

from app.models import (
    Order,
    RateKind,
    ShippingPlace,
    ShippingRate,
    ShippingZone,
    ShopSetting,
    TaxRate,
)
from tests.checkout_helpers import buy
from tests.factories import variant_with_stock

RATE_NAME = "Royal Mail 48"


def uk_shop(db, *, inclusive: bool, shipping_cents: int = 400, percent: int = 20) -> None:
    """Ship to GB at ``shipping_cents`` flat; VAT at ``percent`` on goods and shipping."""
    zone = ShippingZone(name="United Kingdom")
    zone.places = [ShippingPlace(country="GB", region="")]
    zone.rates = [
        ShippingRate(name=RATE_NAME, kind=RateKind.FLAT, price_cents=shipping_cents, currency="USD")
    ]
    db.add(zone)
    db.add(
        TaxRate(
            name="VAT", country="GB", percent_thousandths=percent * 1000, applies_to_shipping=True
        )
    )
    if inclusive:
        db.add(ShopSetting(key="prices_include_tax", value=True, updated_by="test"))
    db.commit()


def bought(db, browser, *, price_cents: int = 2000, quantity: int = 2) -> Order:
    """An order of ``quantity`` tees at ``price_cents``, bought and paid through the pages."""
    tee = variant_with_stock(db, 10, price_cents=price_cents)
    buy(browser, tee, quantity)
    db.expire_all()
    return db.scalar(select(Order).order_by(Order.id.desc()))
