"""The owner in a real browser: creates a product with two variants and a photo, sees it in
the shop, sells it and marks it shipped; uploads keys and a waiting order is fulfilled.
Screenshots of the dashboard, the product form and the order page are saved under
``test-artifacts/screenshots/``."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from app.models import Role
from app.services.accounts import signin

from .conftest import LiveServer
from .pages import fill_address

pytestmark = pytest.mark.e2e

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
OWNER, PASSWORD = "owner@example.com", "correct horse battery"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("e2e-admin"))
    session = server.app.extensions["holdfast.db"].session_factory()
    signin.register_user(session, OWNER, PASSWORD, role=Role.OWNER)
    session.close()
    yield server
    server.stop()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page, base: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email").fill(OWNER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin$"))


def new_product(page, base: str, name: str, kind: str) -> None:
    page.goto(base + "/admin/products/new")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Kind").select_option(kind)
    page.get_by_label("Description").fill(f"{name}, made for the browser test.")
    shot(page, f"product-form-{kind}")
    page.get_by_role("button", name="Create product").click()
    page.wait_for_url(re.compile(r"/admin/products/\d+$"))


def add_variant(page, sku: str, name: str, price: str) -> None:
    page.locator("#variant-sku").fill(sku)
    page.locator("#variant-name").fill(name)
    page.locator("#variant-price").fill(price)
    page.get_by_role("button", name="Add variant").click()
    expect(page.locator(".admin-variants")).to_contain_text(sku)


def give_stock(page, sku: str, units: int) -> None:
    page.get_by_role("link", name=sku).click()
    page.get_by_label("Change (+ adds, − removes)").fill(str(units))
    page.get_by_label("Reason").fill("first delivery")
    page.get_by_role("button", name="Adjust stock").click()
    expect(page.locator(".stock-ledger")).to_contain_text("first delivery")
    page.go_back()
    page.go_back()


def png_photo(tmp_path) -> Path:
    path = tmp_path / "lamp.png"
    image = Image.new("RGB", (1600, 1200), (200, 120, 40))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


def buy(page, base: str, product_url: str, option: str | None = None) -> str:
    """A shopper's purchase with testpay through the pages; returns the order number."""
    page.goto(product_url)
    if option:
        page.get_by_role("radio", name=option, exact=True).check()
        expect(page.get_by_role("group", name=f"Option: {option}")).to_be_visible()  # swapped
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator("#cart-badge .badge")).to_have_text("1")
    fill_address(page, base)
    page.get_by_role("button", name=re.compile(r"^Pay .* with Test payment")).click()
    page.wait_for_url(re.compile(r"/testpay/pay/"))
    page.get_by_role("button", name="Approve payment").click()
    page.wait_for_url(re.compile(r"/orders/HF-"))
    return re.search(r"/orders/(HF-[\w-]+)", page.url).group(1)


def test_an_owner_creates_a_product_sells_it_and_ships_it(shop, browser, tmp_path):
    base = shop.url
    owner = browser.new_context().new_page()
    log_in(owner, base)
    shot(owner, "dashboard-before")
    new_product(owner, base, "Brass desk lamp", "physical")
    add_variant(owner, "LAMP-S", "Small", "39.00")
    add_variant(owner, "LAMP-L", "Large", "59.50")
    give_stock(owner, "LAMP-S", 3)
    give_stock(owner, "LAMP-L", 2)
    owner.get_by_label("Photo (JPEG, PNG, WebP or GIF, at most 5 MB)").set_input_files(
        str(png_photo(tmp_path))
    )
    owner.get_by_label("Alt text (what the photo shows)").fill("A brass desk lamp")
    owner.get_by_role("button", name="Upload photo").click()
    expect(owner.get_by_alt_text("A brass desk lamp").first).to_be_visible()
    product_url = owner.get_by_role("link", name="see it in the shop").get_attribute("href")

    shopper = browser.new_context().new_page()
    shopper.goto(base + product_url)
    expect(shopper.get_by_role("heading", name="Brass desk lamp")).to_be_visible()
    expect(shopper.get_by_alt_text("A brass desk lamp").first).to_be_visible()
    number = buy(shopper, base, base + product_url, option="Large")

    owner.goto(base + "/admin")
    expect(owner.locator('[data-todo="to_ship"] .count')).to_have_text("1")
    shot(owner, "dashboard")
    owner.goto(base + "/admin/orders?to_ship=1")
    owner.get_by_role("link", name=number).click()
    expect(owner.locator(".order-lines")).to_contain_text("LAMP-L")
    owner.get_by_label("Carrier").fill("DHL")
    owner.get_by_label("Tracking number").fill("JD014600003")
    owner.get_by_role("button", name="Mark shipped and email the shopper").click()
    expect(owner.locator(".order-status")).to_contain_text("shipped")
    expect(owner.locator(".timeline")).to_contain_text("order.shipped by owner@example.com")
    shot(owner, "order-page")


def test_an_owner_uploads_keys_and_the_waiting_order_is_fulfilled(shop, browser):
    base = shop.url
    owner = browser.new_context().new_page()
    log_in(owner, base)
    new_product(owner, base, "Pattern library licence", "digital")
    add_variant(owner, "PATLIB-1", "One seat", "25.00")
    product_url = owner.get_by_role("link", name="see it in the shop").get_attribute("href")

    shopper = browser.new_context().new_page()
    number = buy(shopper, base, base + product_url)
    expect(shopper.locator(".order-status")).to_contain_text("back-order")

    owner.get_by_role("link", name="PATLIB-1").click()
    owner.get_by_label("Keys, one per line").fill("PAT-AAAA-0001\nPAT-AAAA-0002\nPAT-AAAA-0001")
    owner.get_by_role("button", name="Import keys").click()
    expect(owner.locator(".flashes")).to_contain_text("2 keys imported")
    expect(owner.locator(".flashes")).to_contain_text("1 duplicate")

    shopper.reload()
    expect(shopper.locator(".order-status")).to_contain_text("delivered")
    expect(shopper.locator(".license-keys")).to_contain_text("PAT-AAAA-000")
    owner.goto(base + f"/admin/orders/{number}")
    expect(owner.locator(".order-status")).to_contain_text("fulfilled")
