"""A shopper chooses a variant on a product page in a real browser, at desktop (1280 x 900)
and phone (390 x 844) sizes: one group of radio buttons per option, chosen by keyboard and by
click; price, stock and picture follow the choice in place (htmx, the URL follows too) and the
chosen variant is what goes in the cart. With JavaScript off, the Show button sends the
choice and the server's page shows the same. Screenshots are saved under
``test-artifacts/screenshots/{desktop,phone}-product-*.png``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SIZES = {
    "desktop": dict(viewport={"width": 1280, "height": 900}),
    "phone": dict(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    ),
}
TEE = "/products/harbor-organic-tee"  # S-XL in Navy and Sand; Navy S has 2 left
CANDLE = "/products/cedar-smoke-soy-candle"  # 8 oz $26.00, 16 oz $38.00 (2 left)


def shot(page, size: str, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{size}-product-{name}.png"), full_page=True)


@pytest.fixture(params=list(SIZES))
def size(request) -> str:
    return request.param


def new_page(browser, size: str, **options):
    context = browser.new_context(**SIZES[size], **options)
    return context, context.new_page()


def main_picture(page) -> str:
    return page.locator("#product-image img").get_attribute("alt")


def stock(page):
    return page.locator("#availability .stock")


def assert_big_targets(page) -> None:
    """Every option is a radio input as big as its button: at least 44 x 44 CSS px."""
    for radio in page.locator(".variant-options input[type=radio]").all():
        box = radio.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44, box


def focus_ring(page, radio_id: str) -> str:
    return page.locator(f"label[for={radio_id}]").evaluate("e => getComputedStyle(e).outlineStyle")


def test_options_by_keyboard_and_click_change_price_stock_picture_and_cart(
    live_server, browser, size
):
    context, page = new_page(browser, size)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + TEE)
    expect(page.get_by_role("group", name=re.compile("^Size"))).to_be_visible()
    expect(page.get_by_role("group", name=re.compile("^Colour"))).to_be_visible()
    expect(page.get_by_role("button", name="Show")).to_be_hidden()  # htmx runs
    assert_big_targets(page)
    expect(stock(page)).to_have_text("Only 2 left")
    assert "in navy" in main_picture(page)
    page.evaluate("window.__noReload = true")
    shot(page, size, "navy")

    # Keyboard: Tab from the size group to the colour group, an arrow chooses Sand.
    page.get_by_role("radio", name="S", exact=True).focus()
    page.keyboard.press("Tab")
    expect(page.locator("#opt-colour-0")).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(page.locator(".option-group-colour legend")).to_have_text("Colour: Sand")
    assert "in sand" in main_picture(page)
    expect(stock(page)).not_to_have_text("Only 2 left")
    expect(page).to_have_url(re.compile(r"size=S&colour=Sand$"))
    expect(page.locator("#opt-colour-1")).to_be_focused()  # focus stays on the swapped radio
    assert focus_ring(page, "opt-colour-1") == "solid"
    # XL in Sand is sold out: marked, not hidden.
    expect(page.get_by_role("radio", name="XL (sold out)")).to_be_visible()
    shot(page, size, "sand-by-keyboard")

    # Click: the colour back to Navy and to Sand again, size XL (sold out), then M.
    page.get_by_role("radio", name="Navy", exact=True).click()
    expect(stock(page)).to_have_text("Only 2 left")
    expect(page.locator("#product-image img")).to_have_attribute("alt", re.compile("in navy$"))
    page.get_by_role("radio", name="Sand", exact=True).click()
    expect(page.locator("#product-image img")).to_have_attribute("alt", re.compile("in sand$"))
    page.get_by_role("radio", name=re.compile("^XL")).click()
    expect(stock(page)).to_have_text("Sold out")
    expect(page.locator("#add-button")).to_be_disabled()
    page.get_by_role("radio", name="M", exact=True).click()
    expect(page.locator("#add-button")).to_have_text("Add to cart")
    chosen = page.locator("#variant_id").get_attribute("value")
    assert page.locator("#availability .stock").get_attribute("data-variant") == chosen
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator("#cart-badge .badge")).to_have_text("1")
    assert page.evaluate("window.__noReload === true")  # all of it in place

    page.goto(live_server + CANDLE)
    expect(page.locator("#availability .price")).to_have_text("$26.00")
    page.get_by_role("radio", name="16 oz", exact=True).click()
    expect(page.locator("#availability .price")).to_have_text("$38.00")
    expect(stock(page)).to_have_text("Only 2 left")
    shot(page, size, "candle-16oz")

    page.goto(live_server + "/cart")
    expect(page.locator("#cart-body")).to_contain_text("M / Sand")
    assert errors == []
    context.close()


def test_without_javascript_the_show_button_sends_the_choice(live_server, browser, size):
    context, page = new_page(browser, size, java_script_enabled=False)
    page.goto(live_server + TEE)
    show = page.get_by_role("button", name="Show")
    expect(show).to_be_visible()
    assert_big_targets(page)
    page.get_by_role("radio", name="Sand", exact=True).click()
    page.get_by_role("radio", name="L", exact=True).click()
    show.click()
    page.wait_for_url(re.compile(r"size=L&colour=Sand"))
    expect(page.locator(".option-group-colour legend")).to_have_text("Colour: Sand")
    assert "in sand" in main_picture(page)
    expect(stock(page)).not_to_have_text("Only 2 left")
    shot(page, size, "nojs-sand")

    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url(re.compile(r"/cart"))
    expect(page.locator("#cart-body")).to_contain_text("L / Sand")

    page.goto(live_server + CANDLE)
    page.get_by_role("radio", name="16 oz", exact=True).click()
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#availability .price")).to_have_text("$38.00")
    shot(page, size, "nojs-candle-16oz")
    context.close()
