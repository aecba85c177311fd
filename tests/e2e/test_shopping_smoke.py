"""A shopper in a real browser: home → product → Add to cart, and the badge updates in place."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_adding_to_the_cart_updates_the_badge_without_a_page_load(live_server, page):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + "/")
    page.locator(".card-link").first.click()
    page.wait_for_url(re.compile(r"/products/"))
    assert page.evaluate("typeof window.htmx") == "object"
    # A marker on window survives only if the page is not reloaded.
    page.evaluate("window.__noReload = true")
    badge = page.locator("#cart-badge .badge")
    assert badge.inner_text() == "0"

    page.get_by_role("button", name="Add to cart").click()

    expect(badge).to_have_text("1")
    assert page.evaluate("window.__noReload === true")
    assert "Added to your cart." in page.locator("#add-result").inner_text()
    assert errors == []
