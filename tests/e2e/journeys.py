"""Steps of the shopper journeys in tests/e2e/test_journeys.py: the two viewports, a journey
that saves a numbered screenshot at each step, and the shopper's steps through the pages.

``choose_variant`` and ``fill_checkout_address`` are the only places that know how the product
page offers a product's options and what the checkout form asks for."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import expect

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 1,  # screenshots 390 px wide (2 would take twice as long)
        "is_mobile": True,
        "has_touch": True,
    },
}


@dataclass(frozen=True)
class Address:
    email: str
    full_name: str = "Ada Lovelace"
    street: str = "12 St James's Square"
    line2: str = "Flat 3"
    city: str = "London"
    region: str = "Greater London"
    postal_code: str = "SW1Y 4JH"
    country: str = "GB"
    country_name: str = "United Kingdom"
    phone: str = "+44 20 7946 0018"


@dataclass
class Journey:
    """One shopper's way through the shop at one viewport size, photographed at each step as
    ``journey-<name>-<size>-<NN>-<step>.png``."""

    page: object
    name: str
    size: str
    steps: list[str] = field(default_factory=list)

    def shot(self, step: str) -> None:
        self.steps.append(step)
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"journey-{self.name}-{self.size}-{len(self.steps):02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)


def new_page(browser, size: str, **options):
    """A page in a fresh browser context (its own cookies) at the named viewport size."""
    return browser.new_context(**VIEWPORTS[size], **options).new_page()


def choose_variant(page, option: str | None = None) -> None:
    """Pick the product's option by its label (a product with one variant has nothing to
    pick)."""
    if option is None:
        return
    value = page.locator("#variant_id option", has_text=option).get_attribute("value")
    page.get_by_label("Option").select_option(value)


def add_to_cart(page, quantity: int = 1, option: str | None = None) -> None:
    choose_variant(page, option)
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Add to cart").click()


def fill_checkout_address(page, address: Address) -> None:
    """The checkout form's fields filled as a shopper does (not submitted). A cart of digital
    goods only asks for the email, a name (optional) and the country, nothing else."""
    page.get_by_label("Email").fill(address.email)
    if page.get_by_label("Name (optional)").count():
        page.get_by_label("Name (optional)").fill(address.full_name)
        page.get_by_label("Country (for tax)").select_option(address.country)
        return
    page.get_by_label("Full name").fill(address.full_name)
    page.get_by_label("Address", exact=True).fill(address.street)
    page.get_by_label("Address line 2").fill(address.line2)
    page.get_by_label("City").fill(address.city)
    page.get_by_label("State / region").fill(address.region)
    page.get_by_label("Postal code").fill(address.postal_code)
    page.get_by_label("Country").select_option(address.country)
    page.get_by_label("Phone").fill(address.phone)


def open_cart(page) -> None:
    page.locator("#cart-badge").click()
    page.wait_for_url(re.compile(r"/cart$"))


def check_out(journey: Journey, address: Address) -> None:
    """From the cart: the checkout form filled and sent; ends on the review page."""
    page = journey.page
    page.get_by_role("link", name="Check out").click()
    page.wait_for_url(re.compile(r"/checkout$"))
    fill_checkout_address(page, address)
    journey.shot("checkout")
    page.get_by_role("button", name="Reserve my items and review").click()
    page.wait_for_url(re.compile(r"/checkout/co_"))


def pay_with_testpay(journey: Journey) -> str:
    """From the review page: pay with testpay and approve; returns the order number."""
    page = journey.page
    page.get_by_role("button", name=re.compile(r"^Pay .* with Test payment")).click()
    page.wait_for_url(re.compile(r"/testpay/pay/"))
    journey.shot("testpay")
    page.get_by_role("button", name="Approve payment").click()
    page.wait_for_url(re.compile(r"/orders/HF-"))
    return re.search(r"/orders/(HF-[\w-]+)", page.url).group(1)


def expect_shipping_address(page, address: Address) -> None:
    shipping = page.locator(".shipping-address")
    parts = (address.full_name, address.street, address.line2, address.city, address.region)
    for part in (*parts, address.postal_code, address.country_name):
        expect(shipping).to_contain_text(part)


def mail_to(sink, address: str, subject: str, timeout: float = 10.0):
    """The message the SMTP sink received for ``address`` with ``subject`` in its subject
    (waiting for the live server's mail thread to send it)."""
    deadline = time.monotonic() + timeout
    while True:
        for message in list(sink.messages):
            if message["To"] and address in message["To"] and subject in message["Subject"]:
                return message
        if time.monotonic() > deadline:
            seen = [(m["To"], m["Subject"]) for m in sink.messages]
            raise AssertionError(f"no email to {address} about {subject!r}; sent: {seen}")
        time.sleep(0.1)
