"""Shipping, tax and a discount code in a real browser, on the demo shop: the shopper in the
US picks Express and applies WELCOME10 on the review page, pays, and the order page shows the
total they confirmed, which is what testpay was asked for."""

import re

import pytest
from playwright.sync_api import expect

from .pages import add_to_cart

pytestmark = pytest.mark.e2e


def _cents(page, element_id: str) -> int:
    return int(page.locator(f"#{element_id}").get_attribute("data-cents"))


def test_a_shopper_picks_a_rate_applies_a_code_and_pays_the_total_shown(live_server, page):
    base = live_server
    add_to_cart(page, base, "cedar-smoke-soy-candle")
    page.goto(base + "/checkout")
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Full name").fill("Grace Hopper")
    page.get_by_label("Address", exact=True).fill("1 Main Street")
    page.get_by_label("City").fill("Arlington")
    page.get_by_label("Postal code").fill("22201")
    page.get_by_label("Country").select_option("US")
    page.get_by_role("button", name="Reserve my items and review").click()
    page.wait_for_url(re.compile(r"/checkout/co_[\w-]+$"))
    subtotal, standard = _cents(page, "checkout-subtotal"), _cents(page, "checkout-shipping")
    assert standard == 500 and _cents(page, "checkout-tax") > 0  # US sales tax, added on top

    page.get_by_role("radio", name=re.compile("Express")).check()
    page.get_by_role("button", name="Use this shipping").click()
    expect(page.locator("#checkout-shipping")).not_to_have_attribute("data-cents", "500")
    page.get_by_label("Discount code").fill("welcome10")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Discount code WELCOME10 applied")).to_be_visible()
    discount, shipping, tax = (
        _cents(page, f"checkout-{name}") for name in ("discount", "shipping", "tax")
    )
    total = _cents(page, "checkout-total")
    assert discount == round(subtotal / 10) and total == subtotal - discount + shipping + tax

    page.get_by_role("button", name=re.compile(r"^Pay .* with Test payment")).click()
    page.wait_for_url(re.compile(r"/testpay/pay/"))
    assert int(page.locator("#testpay-amount").get_attribute("data-amount")) == total
    page.get_by_role("button", name="Approve payment").click()
    page.wait_for_url(re.compile(r"/orders/HF-"))
    order = page.locator("main").inner_text()
    assert "Discount (WELCOME10)" in order and "Express" in order
    assert f"${total / 100:,.2f}" in order
