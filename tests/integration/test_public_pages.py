"""Catalogue pages for visitors without cookies: no cookie set, no token, cacheable, 304 on
a current copy, and never stale after a change made in this process (app/page_cache.py)."""

import re

import pytest

from app.services.stock import inventory
from tests.account_helpers import logged_in
from tests.conftest import csrf_from
from tests.factories import CategoryFactory, UserFactory, variant_with_stock

PUBLIC = ["/", "/category/lamps", "/products/desk-lamp", "/search?q=lamp"]


@pytest.fixture
def lamp(app, db):
    app.config["PAGE_CACHE_SECONDS"] = 60
    cat = CategoryFactory(slug="lamps", name="Lamps")
    return variant_with_stock(
        db,
        7,
        product__name="Desk Lamp",
        product__slug="desk-lamp",
        product__featured=True,
        product__category=cat,
    )


def _fresh(app):
    """A visitor with no cookies (a new test client)."""
    return app.test_client()


@pytest.mark.parametrize("path", PUBLIC)
def test_a_visitor_without_cookies_gets_a_cacheable_page_and_no_cookie(app, lamp, path):
    response = _fresh(app).get(path)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "public, max-age=0, must-revalidate"
    assert response.headers["ETag"] and response.headers["Last-Modified"]
    body = response.get_data(as_text=True)
    assert "csrf_token" not in body and "X-CSRFToken" not in body
    assert "Desk Lamp" in body


@pytest.mark.parametrize("path", PUBLIC)
def test_a_current_copy_is_answered_304_without_a_body(app, lamp, path):
    client = _fresh(app)
    first = client.get(path)
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.get_data() == b""
    since = client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304


def test_a_stock_change_shows_at_once_and_changes_the_etag(app, db, lamp):
    first = _fresh(app).get("/products/desk-lamp")
    assert 'data-available="7"' in first.get_data(as_text=True)
    inventory.adjust_stock(db, lamp.id, -5, reason="breakage")
    current = {"If-None-Match": first.headers["ETag"]}
    second = _fresh(app).get("/products/desk-lamp", headers=current)
    assert second.status_code == 200
    assert 'data-available="2"' in second.get_data(as_text=True)
    assert second.headers["ETag"] != first.headers["ETag"]


def test_a_visitor_with_a_cart_gets_their_own_page_with_a_token(app, lamp):
    client = _fresh(app)
    client.get("/cart")  # the cart page takes a token: the session cookie is set
    response = client.get("/products/desk-lamp")
    assert "public" not in response.headers.get("Cache-Control", "")
    assert csrf_from(response.get_data(as_text=True))


def test_a_logged_in_shopper_never_gets_the_public_copy(app, lamp):
    _fresh(app).get("/")  # the public copy is kept
    UserFactory(email="ada@example.com", name="Ada Lovelace")
    body = logged_in(app, "ada@example.com").get("/").get_data(as_text=True)
    assert "Ada Lovelace" in body
    assert "Log in" not in body


def _add(client, variant_id: int, headers: dict):
    return client.post("/cart/add", data={"variant_id": variant_id, "quantity": 1}, headers=headers)


def _badge(client) -> int:
    html = client.get("/cart").get_data(as_text=True)
    match = re.search(r'id="cart-badge"[^>]*>.*?(\d+)', html, re.S)
    return int(match.group(1)) if match else 0


def test_the_public_product_page_adds_to_the_cart_from_this_site(app, lamp):
    client = _fresh(app)
    page = client.get("/products/desk-lamp").get_data(as_text=True)
    assert 'action="/cart/add"' in page
    response = _add(client, lamp.id, {"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 303
    assert "Desk Lamp" in client.get("/cart").get_data(as_text=True)
    other = _fresh(app)
    response = _add(other, lamp.id, {"Origin": "http://localhost"})
    assert response.status_code == 303  # a browser without Fetch metadata sends Origin


@pytest.mark.parametrize(
    "headers",
    [{}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}],
    ids=["no-proof", "cross-site", "foreign-origin"],
)
def test_an_add_without_a_token_from_elsewhere_is_refused_and_changes_nothing(app, lamp, headers):
    client = _fresh(app)
    response = _add(client, lamp.id, headers)
    assert response.status_code == 400
    assert "Desk Lamp" not in client.get("/cart").get_data(as_text=True)


def test_a_wrong_token_is_refused_even_from_this_site(app, lamp):
    client = _fresh(app)
    response = client.post(
        "/cart/add",
        data={"variant_id": lamp.id, "quantity": 1, "csrf_token": "forged"},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 400


def test_with_the_cache_off_pages_still_validate(app, lamp):
    app.config["PAGE_CACHE_SECONDS"] = 0
    client = _fresh(app)
    first = client.get("/category/lamps")
    again = client.get("/category/lamps", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
