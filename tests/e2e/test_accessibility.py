"""Accessibility in a real browser: axe-core finds nothing serious or critical on any page a
shopper sees, at desktop (1280 x 900) and phone (390 x 844) sizes; the keyboard focus ring
stands out 3:1 from what is behind it; and a shopper can buy with the keyboard alone, the
review page's countdown speaking through a polite live region."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from app.services.accounts import signin

from .conftest import LiveServer
from .metrics import AXE_SCRIPT, axe_findings, contrast_ratio, parse_rgb
from .pages import add_to_cart, fill_address, log_in, pay_with_testpay

pytestmark = pytest.mark.e2e

EMAIL, PASSWORD = "axe@example.com", "correct horse battery"
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
# Pages that need nothing in the cart or session: (what, path).
PLAIN_PAGES = [
    ("home", "/"),
    ("category", "/category/apparel"),
    ("product with options", "/products/harbor-organic-tee"),
    ("digital product", "/products/lumen-photo-editor"),
    ("search with results", "/search?q=mug"),
    ("search with none", "/search?q=zzyzx"),
    ("empty cart", "/cart"),
    ("404", "/no-such-page"),
    ("login", "/login"),
    ("register", "/register"),
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("e2e-a11y"))
    session = server.app.extensions["holdfast.db"].session_factory()
    signin.register_user(session, EMAIL, PASSWORD, name="Axe Shopper")
    session.close()
    yield server
    server.stop()


def offline_page(browser, base: str, size: dict):
    """A page whose context refuses (and records) every request that leaves the shop, so
    neither axe-core nor the shop can depend on the network."""
    context = browser.new_context(**size)
    context.add_init_script(path=AXE_SCRIPT)
    outside: list[str] = []

    def guard(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    return context, context.new_page(), outside


def _open_the_menu(page) -> None:
    """The header's search and account links sit in a <details>: folded behind Menu on phones,
    shown by the stylesheet from 720 px while the <details> stays closed, where axe takes
    them for hidden and skips them. Opened, they are checked at both sizes."""
    menu = page.locator("details.menu")
    if menu.locator("summary").is_visible():
        menu.locator("summary").click()
    else:
        menu.evaluate("d => { d.open = true; }")
    expect(page.get_by_role("search")).to_be_visible()


def _checkout_pages(page, base: str, check) -> None:
    """Cart with a line, the checkout form (and with its errors), review, testpay, order."""
    add_to_cart(page, base, "harbor-organic-tee")
    page.goto(base + "/cart")
    check("cart with lines")
    page.goto(base + "/checkout")
    check("checkout form")
    page.locator("form[action$='/checkout'] button[type=submit]").click()
    expect(page.locator("[aria-invalid=true]").first).to_be_visible()
    check("checkout form with errors")
    fill_address(page, base)
    check("review and pay")
    pay_with_testpay(page)
    check("order after payment")


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_axe_finds_nothing_serious_on_any_shopper_page(shop, browser, size):
    base = shop.url
    context, page, outside = offline_page(browser, base, size)
    findings: list[str] = []

    label = "phone" if size is PHONE else "desktop"

    def check(where: str) -> None:
        findings.extend(axe_findings(page, where))
        wide = page.evaluate("document.documentElement.scrollWidth")
        screen = size["viewport"]["width"]
        if wide > screen:  # the whole page scrolls sideways
            findings.append(f"{where}: the page is {wide} px wide on a {screen} px screen")
        SHOTS.mkdir(parents=True, exist_ok=True)  # every page it checks, as the shopper saw it
        name = re.sub(r"[^a-z0-9]+", "-", where.lower()).strip("-")
        page.screenshot(path=str(SHOTS / f"pages-{label}-{name}.png"), full_page=True)

    try:
        for where, path in PLAIN_PAGES:
            page.goto(base + path)
            check(where)
        _open_the_menu(page)
        check("register, menu open")
        _checkout_pages(page, base, check)
        log_in(page, base, EMAIL, PASSWORD)
        page.goto(base + "/account")
        check("account")
    finally:
        context.close()
    assert findings == [], "\n".join(findings)
    assert outside == []


FOCUSED = """() => {
  const e = document.activeElement;
  if (e === document.body) return {tag: 'body', type: '', label: '', name: '', form: ''};
  const label = e.labels && e.labels.length ? e.labels[0].innerText : '';
  return {tag: e.tagName.toLowerCase(), type: e.type || '', label: label.trim(),
          name: (e.getAttribute('aria-label') || e.innerText || e.value || '').trim(),
          form: e.form ? new URL(e.form.action).pathname : ''};
}"""


def tab_to(page, wanted, *, back: bool = False, limit: int = 80) -> dict:
    """Press Tab (Shift+Tab when `back`) until the focused element satisfies `wanted`
    (a predicate on FOCUSED's description); that description."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        focused = page.evaluate(FOCUSED)
        if wanted(focused):
            return focused
        seen.append(focused["name"][:40] or focused["label"] or focused["tag"])
    raise AssertionError(f"Tab never reached the element wanted; it went through {seen}")


def named(tag: str, pattern: str):
    return lambda f: f["tag"] == tag and re.search(pattern, f["name"]) is not None


RING_AND_BACKDROP = """() => {
  const e = document.activeElement, style = getComputedStyle(e);
  let behind = e.parentElement, bg = 'rgba(0, 0, 0, 0)';
  // The ring is drawn outline-offset outside the element: over its ancestors' background.
  while (behind) {
    bg = getComputedStyle(behind).backgroundColor;
    if (!/rgba\\(.*, 0\\)$|transparent/.test(bg)) break;
    behind = behind.parentElement;
  }
  return {outline: style.outlineColor, style: style.outlineStyle,
          width: parseFloat(style.outlineWidth), behind: behind ? bg : 'rgb(255, 255, 255)'};
}"""


def _ring_contrast(page) -> float:
    ring = page.evaluate(RING_AND_BACKDROP)
    assert ring["style"] == "solid" and ring["width"] >= 2, ring  # not the browser's thin one
    return contrast_ratio(parse_rgb(ring["outline"]), parse_rgb(ring["behind"]))


def test_the_keyboard_focus_ring_stands_out_3_to_1(shop, page):
    page.set_viewport_size(DESKTOP["viewport"])
    page.goto(shop.url + "/")
    tab_to(page, named("a", r"^Apparel$"))  # a category link in the header
    assert _ring_contrast(page) >= 3
    tab_to(page, named("a", r"^Apparel"))  # the same category's card on the home page
    assert _ring_contrast(page) >= 3
    page.goto(shop.url + "/products/olivewood-cutting-board")
    tab_to(page, named("button", r"^Add to cart$"))
    assert _ring_contrast(page) >= 3
    page.set_viewport_size(PHONE["viewport"])
    page.goto(shop.url + "/")
    tab_to(page, named("summary", r"^Menu$"))  # the phone header's menu button
    assert _ring_contrast(page) >= 3


# What a shopper types into each checkout field, by the field's label (first match wins);
# None leaves a field empty. A <select> (a country list) is answered by typing the option's
# first letters, as a keyboard user does.
ANSWERS = [
    (r"email", "kbd@example.com"),
    (r"line 2|apartment|suite", None),
    (r"name", "Grace Hopper"),
    (r"address", "221B Baker Street"),
    (r"city|town", "London"),
    (r"region|state|province|county", "Greater London"),
    (r"postal|post code|postcode|zip", "NW1 6XE"),
    (r"country", "GB"),
    (r"phone", "+44 20 7946 0000"),
]


def keyboard_fill_checkout(page) -> None:
    """Tab through the checkout form typing each answer; stops on its submit button."""
    while True:
        focused = tab_to(page, lambda f: f["form"] == "/checkout")
        if focused["tag"] == "button":
            return
        answer = next((a for p, a in ANSWERS if re.search(p, focused["label"], re.I)), None)
        if answer is None:
            continue
        if focused["tag"] == "select":
            answer = "United Kingdom" if answer == "GB" else answer
        page.keyboard.type(answer)


def test_a_shopper_buys_with_the_keyboard_alone(shop, page):
    base, keys = shop.url, page.keyboard
    page.goto(base + "/")  # the only navigation not made with keys
    tab_to(page, named("a", r"^Home & Kitchen$"))
    keys.press("Enter")
    page.wait_for_url(base + "/category/home-kitchen")
    tab_to(page, named("a", r"^Olivewood Cutting Board"))
    keys.press("Enter")
    page.wait_for_url(re.compile(r"/products/olivewood-cutting-board"))
    tab_to(page, lambda f: f["label"] == "Quantity")
    keys.press("ArrowUp")  # 1 → 2
    tab_to(page, named("button", r"^Add to cart$"))
    keys.press("Space")
    expect(page.locator("#cart-badge .badge")).to_have_text("2")
    tab_to(page, lambda f: f["name"].startswith("Cart,"), back=True)
    keys.press("Enter")
    page.wait_for_url(base + "/cart")
    tab_to(page, named("a", r"^Check out$"))
    keys.press("Enter")
    page.wait_for_url(base + "/checkout")
    keyboard_fill_checkout(page)
    keys.press("Enter")
    page.wait_for_url(re.compile(r"/checkout/co_"))

    expect(page.locator("main address")).to_contain_text("221B Baker Street")  # typed, sent
    live = page.locator("#countdown-live")  # the countdown speaks here, outside the swaps
    expect(live).to_have_attribute("aria-live", "polite")
    expect(live).to_have_text(re.compile(r"^\d+ minutes? left to pay$"))
    assert live.evaluate("e => !e.closest('#countdown-region')")
    expect(page.locator(".countdown-clock")).to_have_attribute("aria-hidden", "true")

    tab_to(page, named("button", r"^Pay .* with Test payment"))
    keys.press("Enter")
    page.wait_for_url(re.compile(r"/testpay/pay/"))
    tab_to(page, named("button", r"^Approve payment$"))
    keys.press("Space")
    page.wait_for_url(re.compile(r"/orders/HF-"))
    expect(page.get_by_text("Your payment was received")).to_be_visible()
    expect(page.get_by_text("Olivewood Cutting Board")).to_be_visible()
