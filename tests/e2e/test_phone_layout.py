"""A shopper on a phone (390 x 844): a header of at most 90 px with the search and account
links folded behind a Menu button, a category row that hints it scrolls, tap targets of at
least 44 px, and table cells that name their column. Screenshots of home, product, cart,
review and order pages are saved under ``test-artifacts/screenshots/phone-*.png``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .pages import fill_address

pytestmark = pytest.mark.e2e

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
TAPPABLE = "a:visible, button:visible, summary:visible, input:not([type=hidden]):visible"


@pytest.fixture
def phone(browser):
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"phone-{name}.png"), full_page=True)


def small_targets(page, scope: str) -> list[str]:
    """The visible links, buttons and inputs in `scope` smaller than 44 x 44 CSS px."""
    small = []
    for el in page.locator(scope).locator(TAPPABLE).all():
        box = el.bounding_box()
        if box and (box["height"] < 44 or box["width"] < 44):
            name = el.inner_text() or el.get_attribute("name")
            small.append(f"{name}: {box['width']:.0f}x{box['height']:.0f}")
    return small


def cell_labels(page, rows: str) -> list[tuple[str, str]]:
    """(label shown before the cell, cell text) for each cell of the table rows."""
    return page.locator(rows).evaluate_all(
        """rows => rows.flatMap(r => [...r.cells].map(td => [
               getComputedStyle(td, '::before').content.replace(/^"|"$/g, ''),
               td.innerText.trim()]))"""
    )


def test_a_phone_shopper_sees_a_compact_header_big_targets_and_labelled_cells(live_server, phone):
    page, base = phone, live_server
    page.goto(base + "/")
    header = page.locator(".site-header").bounding_box()
    assert header["height"] <= 90, header
    assert not page.get_by_role("link", name="Log in").is_visible()  # folded behind Menu
    nav = page.locator(".category-nav")
    assert nav.evaluate("n => n.scrollWidth > n.clientWidth")  # it scrolls sideways...
    scroller = page.locator(".category-scroller")
    fade = scroller.evaluate("e => getComputedStyle(e, '::after').backgroundImage")
    assert "gradient" in fade  # ...and says so at its edge
    assert small_targets(page, ".site-header") == []
    shot(page, "home")
    page.locator(".menu > summary").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    assert small_targets(page, ".site-header") == []
    assert page.locator(".site-header").bounding_box()["height"] == header["height"]  # drops over

    page.goto(base + "/category/home-kitchen")
    page.locator(".card:not(:has(.tag-out)) .card-link").first.click()
    page.wait_for_url(re.compile(r"/products/"))
    shot(page, "product")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator("#cart-badge .badge")).to_have_text("1")

    page.goto(base + "/cart")
    assert small_targets(page, "#cart-body") == []
    labels = [label for label, _ in cell_labels(page, "#cart-body tbody tr")]
    assert labels == ["Item", "Price", "Quantity", "Total"]
    shot(page, "cart")

    fill_address(page, base)
    assert not page.locator(".cart-table thead").is_visible()
    cells = cell_labels(page, ".cart-table tbody tr")
    assert [label for label, _ in cells] == ["Item", "Qty", "Price", "Total"]
    assert cells[1][1] == "1" and cells[2][1].startswith("$") and cells[3][1].startswith("$")
    shot(page, "review")

    page.get_by_role("button", name=re.compile(r"^Pay .* with Test payment")).click()
    page.wait_for_url(re.compile(r"/testpay/pay/"))
    page.get_by_role("button", name="Approve payment").click()
    page.wait_for_url(re.compile(r"/orders/HF-"))
    labels = [label for label, _ in cell_labels(page, ".order-lines tbody tr")]
    # Discount and Tax columns appear between Price and Total when the order has any.
    assert labels[:4] == ["Item", "Qty", "Status", "Price"] and labels[-1] == "Total"
    assert set(labels[4:-1]) <= {"Discount", "Tax"}
    shot(page, "order")
