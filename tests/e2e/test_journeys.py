"""Four shopper journeys in a real browser, each at desktop (1280 x 900) and phone (390 x 844)
size, with a screenshot at every step under ``test-artifacts/screenshots/journey-*.png``:

1. a guest buys a physical product, from the home page to the order page and its email;
2. a hold runs out on a shop with a short hold time, and "Try again" leads to a payment;
3. a shopper buys three license keys when one exists, receives it, and the other two arrive
   when the owner uploads keys in the admin (with the "rest of your keys" email);
4. a shopper with JavaScript turned off buys a physical product (plain forms and redirects).

The live servers send their mail to an SMTP sink of the test's own; without Redis, their
background work (emails, filling waiting orders) runs in the server's own threads."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.models import Category, ProductKind, Role
from app.services.accounts import signin
from app.services.admin import catalogue, variants
from app.services.stock import keys
from tests.smtp_sink import SmtpSink

from .conftest import LiveServer
from .journeys import (
    VIEWPORTS,
    Address,
    Journey,
    add_to_cart,
    check_out,
    expect_shipping_address,
    mail_to,
    new_page,
    open_cart,
    pay_with_testpay,
)

pytestmark = pytest.mark.e2e

SIZES = list(VIEWPORTS)
OWNER, PASSWORD = "owner@example.com", "correct horse battery"


@pytest.fixture(scope="module")
def sink():
    smtp = SmtpSink().start()
    yield smtp
    smtp.stop()


@pytest.fixture(scope="module")
def shop(tmp_path_factory, sink):
    """The demo shop, mailing through the sink, with an owner account."""
    server = LiveServer(
        tmp_path_factory.mktemp("e2e-journeys"),
        MAIL_AUTO_DISPATCH=True,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=sink.port,
        MAIL_USE_TLS=False,
    )
    session = server.app.extensions["holdfast.db"].session_factory()
    signin.register_user(session, OWNER, PASSWORD, role=Role.OWNER)
    session.close()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def short_hold_shop(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("e2e-journeys-ttl"), HOLD_TTL_MINUTES=0.15)  # 9 s
    yield server
    server.stop()


@pytest.fixture
def contexts(browser):
    """Pages in contexts of their own, closed after the test."""
    pages = []

    def open_page(size: str, **options):
        page = new_page(browser, size, **options)
        pages.append(page)
        return page

    yield open_page
    for page in pages:
        page.context.close()


def buy_towels_to_review(journey: Journey, base: str, address: Address) -> None:
    """Home → Home & Kitchen → the tea towels → Add to cart → cart → checkout → review."""
    page = journey.page
    page.goto(base + "/")
    journey.shot("home")
    page.get_by_role("navigation", name="Categories").get_by_role(
        "link", name="Home & Kitchen"
    ).click()
    page.wait_for_url(re.compile(r"/category/home-kitchen"))
    journey.shot("category")
    page.get_by_role("link", name="Linen Tea Towels, Set of 3").click()
    page.wait_for_url(re.compile(r"/products/linen-tea-towels"))
    journey.shot("product")
    add_to_cart(page)
    expect(page.locator("#add-result")).to_contain_text("Added to your cart.")
    expect(page.locator("#cart-badge .badge")).to_have_text("1")
    journey.shot("added")
    open_cart(page)
    expect(page.locator("#cart-body")).to_contain_text("Linen Tea Towels, Set of 3")
    journey.shot("cart")
    check_out(journey, address)


@pytest.mark.parametrize("size", SIZES)
def test_a_guest_buys_a_physical_product(shop, sink, contexts, size):
    journey = Journey(contexts(size), "guest-buys", size)
    page, address = journey.page, Address(email=f"guest-{size}@example.com")
    buy_towels_to_review(journey, shop.url, address)
    expect(page.locator(".cart-table")).to_contain_text("Linen Tea Towels, Set of 3")
    expect(page.locator("#hold-countdown .countdown-clock")).to_be_visible()
    journey.shot("review")

    number = pay_with_testpay(journey)
    expect(page.locator(".order-status")).to_contain_text("Processing")
    expect(page.locator(".order-status")).to_contain_text("Your payment was received")
    expect(page.locator(".order-lines .line-status")).to_have_text("Processing")
    expect_shipping_address(page, address)
    journey.shot("order")

    email = mail_to(sink, address.email, f"Order {number} confirmed")
    assert "Linen Tea Towels, Set of 3" in email.get_body(("plain",)).get_content()


@pytest.mark.parametrize("size", SIZES)
def test_a_hold_expires_and_trying_again_ends_in_a_paid_order(short_hold_shop, contexts, size):
    journey = Journey(contexts(size), "hold-expires", size)
    page, base = journey.page, short_hold_shop.url
    page.goto(base + "/products/olivewood-cutting-board")
    journey.shot("product")
    add_to_cart(page)
    expect(page.locator("#cart-badge .badge")).to_have_text("1")
    open_cart(page)
    check_out(journey, Address(email=f"late-{size}@example.com"))
    clock = page.locator("#hold-countdown .countdown-clock")
    expect(clock).to_have_text(re.compile(r"^0:0\d$"))
    journey.shot("countdown")

    expect(page.get_by_text("Your hold expired.")).to_be_visible(timeout=15000)
    expect(page.get_by_role("button", name=re.compile(r"^Pay "))).to_have_count(0)
    journey.shot("expired")
    expired_at = page.url
    page.get_by_role("button", name="Try again").click()
    page.wait_for_url(lambda url: "/checkout/co_" in url and url != expired_at)  # a new hold
    expect(clock).to_be_visible()
    expect(page.locator(".cart-table")).to_contain_text("Olivewood Cutting Board")
    journey.shot("retried")

    pay_with_testpay(journey)
    expect(page.locator(".order-status")).to_contain_text("Processing")
    expect(page.locator(".order-lines")).to_contain_text("Olivewood Cutting Board")
    journey.shot("order")


def licence_with_one_key(server, size: str) -> tuple[str, int]:
    """A digital product sold beyond its keys, with one key in its pool: (its slug, its
    variant's id)."""
    session = server.app.extensions["holdfast.db"].session_factory()
    try:
        digital = session.scalar(select(Category.id).where(Category.slug == "digital"))
        product = catalogue.create_product(
            session,
            catalogue.ProductInput(
                f"Journey Studio licence ({size})",
                "One seat of Journey Studio.",
                digital,
                ProductKind.DIGITAL,
            ),
            actor="test",
            key=f"journey-product-{size}",
        )
        sku = f"JSTUDIO-{size.upper()}"
        variant = variants.create_variant(
            session,
            product.id,
            variants.VariantInput(sku, "One seat", "", "", 1500, True, 0),
            currency="USD",
            actor="test",
            key=f"journey-variant-{size}",
        )
        keys.import_keys(session, sku, [f"JS-{size.upper()}-0001"], actor="test")
        return product.slug, variant.id
    finally:
        session.close()


def owner_uploads_keys(journey: Journey, base: str, variant_id: int, codes: list[str]) -> None:
    page = journey.page
    page.goto(base + "/login")
    page.get_by_label("Email").fill(OWNER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin$"))
    journey.shot("owner-dashboard")
    page.goto(base + f"/admin/variants/{variant_id}")
    page.get_by_label("Keys, one per line").fill("\n".join(codes))
    journey.shot("owner-keys")
    page.get_by_role("button", name="Import keys").click()
    expect(page.locator(".flashes")).to_contain_text(f"{len(codes)} keys imported")
    journey.shot("owner-imported")


@pytest.mark.parametrize("size", SIZES)
def test_keys_short_then_the_owner_uploads_the_rest(shop, sink, contexts, size):
    slug, variant_id = licence_with_one_key(shop, size)
    journey = Journey(contexts(size), "keys-later", size)
    page, address = journey.page, Address(email=f"keys-{size}@example.com")
    page.goto(shop.url + f"/products/{slug}")
    journey.shot("product")
    add_to_cart(page, quantity=3)
    expect(page.locator("#cart-badge .badge")).to_have_text("3")
    open_cart(page)
    journey.shot("cart")
    check_out(journey, address)
    journey.shot("review")

    number = pay_with_testpay(journey)
    first_key = f"JS-{size.upper()}-0001"
    expect(page.locator(".order-status")).to_contain_text("Some items waiting for stock")
    expect(page.locator(".order-lines .line-status")).to_have_text("Partly delivered")
    expect(page.locator(".license-keys li")).to_have_text([first_key])
    expect(page.locator(".order-lines")).to_contain_text("2 still coming")
    journey.shot("order-partly-delivered")
    mail_to(sink, address.email, f"Your first keys for order {number}")

    later = [f"JS-{size.upper()}-0002", f"JS-{size.upper()}-0003"]
    owner_uploads_keys(
        Journey(contexts(size), "keys-later", size, journey.steps), shop.url, variant_id, later
    )

    page.reload()
    expect(page.locator(".order-status")).to_contain_text("Delivered")
    expect(page.locator(".order-lines .line-status")).to_have_text("Delivered")
    expect(page.locator(".license-keys li")).to_have_text([first_key, *later])
    expect(page.locator(".order-lines")).not_to_contain_text("still coming")
    journey.shot("order-delivered")
    email = mail_to(sink, address.email, f"The rest of your keys for order {number}")
    body = email.get_body(("plain",)).get_content()
    assert all(code in body for code in later)


@pytest.mark.parametrize("size", SIZES)
def test_a_shopper_without_javascript_buys(shop, contexts, size):
    journey = Journey(contexts(size, java_script_enabled=False), "no-javascript", size)
    page, base = journey.page, shop.url
    address = Address(email=f"nojs-{size}@example.com")
    page.goto(base + "/category/stationery")
    journey.shot("category")
    page.get_by_role("link", name="Weekly Desk Planner").click()
    page.wait_for_url(re.compile(r"/products/weekly-desk-planner"))
    journey.shot("product")
    add_to_cart(page)
    page.wait_for_url(re.compile(r"/cart$"))  # a full page load: no htmx
    expect(page.locator(".flashes")).to_contain_text("Added to your cart.")
    expect(page.locator("#cart-badge .badge")).to_have_text("1")
    journey.shot("cart")
    check_out(journey, address)
    expect(page.locator("#hold-countdown .countdown-clock")).to_be_visible()
    journey.shot("review")

    pay_with_testpay(journey)
    expect(page.locator(".order-status")).to_contain_text("Processing")
    expect(page.locator(".order-lines")).to_contain_text("Weekly Desk Planner")
    expect_shipping_address(page, address)
    journey.shot("order")
