"""Amounts the shopper confirmed are the amounts charged: for every combination of shipping
(none set up, flat, weight band, free above a total), tax mode (prices excluding or including
tax) and discount (none, a percentage off the order, a fixed amount off one product), the
provider is asked for, and captures, exactly the total the review page showed.

On SQLite: the amounts do not depend on the database (test_checkout_pricing.py runs the same
pages on both), and 24 purchases are a minute of CI on two backends."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from app.models import Order, Payment, Product
from tests.checkout_helpers import (
    approval_ref,
    approve,
    checkout_path,
    fill_cart,
    pay,
    start_checkout,
)
from tests.discount_helpers import make_code
from tests.factories import variant_with_stock
from tests.pricing_helpers import prices_include_tax, rate, review_totals, tax_rate, zone

SHIPPING = ("none", "flat", "weight", "free_above")
TAX = ("exclusive", "inclusive")
DISCOUNT = ("none", "percent", "fixed_product")


def _shop(db, shipping: str, tax: str, discount: str):
    prices_include_tax(db, tax == "inclusive")
    tax_rate(db, "GB", 20000, on_shipping=True)
    if shipping != "none":
        uk = zone(db, "UK", "GB")
        if shipping == "flat":
            rate(db, uk, "Standard", 499)
        elif shipping == "weight":
            rate(db, uk, "Parcel", bands=[(500, 350), (2000, 795)])
        else:
            rate(db, uk, "Standard", 499, free_above_cents=4000)
    tee = variant_with_stock(db, 9, price_cents=1999, weight_grams=350)
    mug = variant_with_stock(db, 9, price_cents=1333, weight_grams=420)
    if discount == "percent":
        make_code(db, "TAKE15", value=1500)
    elif discount == "fixed_product":
        mug_product = db.get(Product, mug.product_id)
        make_code(
            db, "TAKE15", kind="fixed", value=250, currency="USD", product_ids=[mug_product.id]
        )
    return tee, mug


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("shipping", "tax", "discount"), list(itertools.product(SHIPPING, TAX, DISCOUNT))
)
def test_the_provider_charges_the_total_the_review_page_showed(
    browser, db, shipping, tax, discount
):
    tee, mug = _shop(db, shipping, tax, discount)
    fill_cart(browser, (tee, 2), (mug, 1))
    path = checkout_path(start_checkout(browser))
    if discount != "none":
        assert browser.post(f"{path}/discount", {"code": "TAKE15"}).status_code == 303
    shown = review_totals(browser.get(path).get_data(as_text=True))
    assert shown["subtotal"] == 2 * 1999 + 1333
    added_tax = shown["tax"] if tax == "exclusive" else 0
    expected = shown["subtotal"] - (shown["discount"] or 0) + (shown["shipping"] or 0) + added_tax
    assert shown["total"] == expected > 0
    if shipping == "free_above":
        assert shown["shipping"] == 0

    ref = approval_ref(pay(browser, path))
    asked = browser.get(f"/testpay/pay/{ref}").get_data(as_text=True)
    assert f'data-amount="{shown["total"]}"' in asked
    approve(browser, ref)
    assert browser.client.get(f"{path}/return").status_code == 303
    order = db.scalar(select(Order))
    payment = db.scalar(select(Payment))
    assert order.total_cents == payment.amount_cents == payment.captured_cents == shown["total"]
    assert order.tax_cents == shown["tax"] and order.discount_cents == (shown["discount"] or 0)
