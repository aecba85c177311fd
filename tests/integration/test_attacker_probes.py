"""What the security review probed from outside, kept as tests (docs/SECURITY.md): no `next`
leads off the site, another shopper's order and checkout stay closed however they are asked
for, and what people type is escaped on every page that shows it."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest
from sqlalchemy import select

from app.models import Order, OrderStatus, Role
from tests.admin_helpers import signed_in
from tests.checkout_helpers import buy, checkout_path, fill_cart, start_checkout
from tests.conftest import Browser
from tests.factories import CategoryFactory, ProductFactory, UserFactory, variant_with_stock

PASSWORD = "correct horse battery"

# Sixteen ways to write "somewhere else" that browsers follow.
OFF_SITE = [
    "//evil.example",
    "///evil.example",
    "////evil.example/x",
    "https://evil.example/",
    "http:evil.example",
    "https:/evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/%0d%0aLocation:%20https://evil.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    " //evil.example",
    "/\x00/evil.example",
    "%2F%2Fevil.example",
    "evil.example",
]


def stays_on_site(location: str) -> bool:
    parts = urlsplit(location)
    return (
        location.startswith("/")
        and not location.startswith("//")
        and "\\" not in location
        and not parts.netloc
        and not parts.scheme
        and not any(ord(c) < 32 for c in location)
    )


@pytest.mark.parametrize("target", OFF_SITE)
def test_no_next_leads_off_the_site(app, db, target):
    UserFactory(email="ada@example.com")
    variant = variant_with_stock(db, 5)
    answers = []
    for query in (False, True):  # the log-in form's hidden field, and ?next= on /login
        browser = Browser(app.test_client())
        url = f"/login?next={quote(target)}" if query else "/login"
        form = {"email": "ada@example.com", "password": PASSWORD}
        answers.append(browser.post(url, form if query else {**form, "next": target}))
    shopper = Browser(app.test_client())  # adding to the cart goes back to `next`
    answers.append(
        shopper.post("/cart/add", {"variant_id": variant.id, "quantity": 1, "next": target})
    )
    for answer in answers:
        if answer.status_code == 400:  # a NUL byte: refused outright (input_guard)
            assert "\x00" in target
            continue
        assert answer.status_code == 303
        assert stays_on_site(answer.headers["Location"]), (target, answer.headers["Location"])


def _token(order_url: str) -> str:
    return urlsplit(order_url).query.partition("t=")[2]


def _eves(app, db, variant) -> list[tuple[Browser, str]]:
    """Eve as a guest with an order (and its link) of her own, and Eve logged in to an
    account (who brings the guest Eve's link)."""
    guest = Browser(app.test_client())
    token = _token(buy(guest, variant, email="eve@example.com"))
    UserFactory(email="eve@example.org")
    account = Browser(app.test_client())
    account.get("/login")
    account.post("/login", {"email": "eve@example.org", "password": PASSWORD})
    return [(guest, token), (account, token)]


def _tries(eve: Browser, number: str, eves_token: str, checkout: str) -> list:
    """Thirteen ways to reach Ada's order and checkout."""
    return [
        eve.client.get(f"/orders/{number}"),
        eve.client.get(f"/orders/{number}?t=garbage"),
        eve.client.get(f"/orders/{number}?t={eves_token}"),  # a real link, to Eve's order
        eve.post(f"/orders/{number}/cancel", {"email": "ada@example.com"}),
        eve.post(f"/orders/{number}/return", {"line_id": 1, "quantity": 1, "reason": "x"}),
        eve.client.get(checkout),
        eve.client.get(f"{checkout}/countdown"),
        eve.client.get(f"{checkout}/status"),
        eve.post(f"{checkout}/extend"),
        eve.post(f"{checkout}/pay", {"provider": "testpay"}),
        eve.post(f"{checkout}/confirm-prices"),
        eve.client.get(f"{checkout}/return"),
        eve.post(f"{checkout}/retry"),
    ]


def test_another_shoppers_order_and_checkout_stay_closed(app, db):
    variant = variant_with_stock(db, 5)
    ada = Browser(app.test_client())
    order_url = buy(ada, variant)
    number = db.scalar(select(Order.number))
    fill_cart(ada, (variant, 1))
    adas_checkout = checkout_path(start_checkout(ada))  # a live checkout, holding stock
    for eve, eves_token in _eves(app, db, variant):
        answers = _tries(eve, number, eves_token, adas_checkout)
        assert [a.status_code for a in answers] == [404] * len(answers)
    assert db.scalar(select(Order.status).where(Order.number == number)) is OrderStatus.PAID
    assert ada.client.get(order_url).status_code == 200  # still Ada's, untouched
    assert ada.client.get(adas_checkout).status_code == 200


PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_what_people_type_is_escaped_on_every_page_that_shows_it(app, db):
    category = CategoryFactory(name=f"Tools {PAYLOAD}", slug="tools")
    product = ProductFactory(name=f"Hammer {PAYLOAD}", slug="hammer", category=category)
    variant = variant_with_stock(db, 5, product=product, name=f"Big {PAYLOAD}")
    shopper = Browser(app.test_client())
    order_url = buy(shopper, variant, full_name=f"Ada {PAYLOAD}", city=f"London {PAYLOAD}")
    number = db.scalar(select(Order.number))
    owner = signed_in(app, Role.OWNER)
    pages = [
        shopper.client.get("/"),
        shopper.client.get("/category/tools"),
        shopper.client.get("/products/hammer"),
        shopper.client.get(f"/search?q={quote(PAYLOAD)}"),
        shopper.client.get(f"/search?q={quote('Hammer')}"),
        shopper.client.get(order_url),
        owner.client.get(f"/admin/orders/{number}"),
        owner.client.get("/admin/orders"),
        owner.client.get("/admin/products"),
    ]
    fill_cart(shopper, (variant, 1))
    pages.append(shopper.client.get("/cart"))
    pages.append(shopper.client.get(checkout_path(start_checkout(shopper, full_name=PAYLOAD))))
    for page in pages:
        body = page.get_data(as_text=True)
        assert page.status_code == 200, page.request.path
        assert "<script>alert" not in body and "<img src=x" not in body, page.request.path
    product_page = pages[2].get_data(as_text=True)
    assert "Hammer &lt;script&gt;alert(" in product_page  # shown, as text
