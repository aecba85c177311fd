"""Steps the browser tests share."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def fill_address(page, base: str) -> None:
    """The checkout form filled as a shopper does, submitted: the review page with its hold.
    A cart of digital goods only asks for no address: the email and a name are enough."""
    page.goto(base + "/checkout")
    page.get_by_label("Email").fill("ada@example.com")
    if page.get_by_label("Name (optional)").count():
        page.get_by_label("Name (optional)").fill("Ada Lovelace")
        page.get_by_role("button", name="Reserve my items and review").click()
        page.wait_for_url(re.compile(r"/checkout/co_"))
        return
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Address", exact=True).fill("12 St James's Square")
    page.get_by_label("City").fill("London")
    page.get_by_label("Postal code").fill("SW1Y 4JH")
    page.get_by_label("Country").select_option("GB")
    page.get_by_role("button", name="Reserve my items and review").click()
    page.wait_for_url(re.compile(r"/checkout/co_"))


def add_to_cart(page, base: str, slug: str) -> None:
    """The product page's default choice added to the cart; waits for the badge to count it."""
    page.goto(f"{base}/products/{slug}")
    before = int(page.locator("#cart-badge .badge").inner_text())
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator("#cart-badge .badge")).to_have_text(str(before + 1))


def pay_with_testpay(page) -> None:
    """From the review page: pay with testpay and approve; ends on the order page."""
    page.get_by_role("button", name=re.compile(r"^Pay .* with Test payment")).click()
    page.wait_for_url(re.compile(r"/testpay/pay/"))
    page.get_by_role("button", name="Approve payment").click()
    page.wait_for_url(re.compile(r"/orders/HF-"))


def log_in(page, base: str, email: str, password: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)
