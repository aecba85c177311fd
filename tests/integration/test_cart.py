"""The cart: adding and changing lines, with and without HTMX, refusing what isn't there."""

import re

from sqlalchemy import select

from app.models import Cart, CartLine
from tests.conftest import Browser
from tests.factories import UserFactory, variant_with_stock


def _lines(db) -> dict[int, int]:
    return {line.variant_id: line.quantity for line in db.scalars(select(CartLine))}


def test_adding_without_javascript_redirects_to_the_cart_which_lists_the_line(browser, db):
    v = variant_with_stock(db, 5, product__name="Field Notebook", price_cents=1250)
    response = browser.post("/cart/add", {"variant_id": v.id, "quantity": 2})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/cart")
    html = browser.get("/cart").get_data(as_text=True)
    assert "Field Notebook" in html
    assert "$25.00" in html
    assert _lines(db) == {v.id: 2}


def test_adding_with_htmx_answers_a_fragment_that_updates_the_badge(browser, db):
    v = variant_with_stock(db, 5)
    response = browser.post("/cart/add", {"variant_id": v.id, "quantity": 3}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body
    assert re.search(r'id="cart-badge"[^>]*hx-swap-oob="true"', body)
    assert 'data-count="3"' in body


def test_a_post_without_a_csrf_token_is_refused_and_changes_nothing(client, db):
    v = variant_with_stock(db, 5)
    response = client.post("/cart/add", data={"variant_id": v.id, "quantity": 1})
    assert response.status_code == 400
    assert "Reload the page" in response.get_data(as_text=True)
    assert _lines(db) == {}


def test_asking_for_more_than_is_available_is_refused_with_the_quantity_left(browser, db):
    v = variant_with_stock(db, 3, product__name="Wool Cap")
    response = browser.post("/cart/add", {"variant_id": v.id, "quantity": 4})
    assert response.status_code == 409
    assert "Only 3 of Wool Cap" in response.get_data(as_text=True)
    assert _lines(db) == {}


def test_two_adds_of_one_variant_cannot_together_exceed_stock(browser, db):
    v = variant_with_stock(db, 3)
    assert browser.post("/cart/add", {"variant_id": v.id, "quantity": 2}).status_code == 303
    response = browser.post("/cart/add", {"variant_id": v.id, "quantity": 2}, htmx=True)
    assert response.status_code == 409
    assert "Only 3" in response.get_data(as_text=True)
    assert _lines(db) == {v.id: 2}


def test_sold_out_variants_cannot_be_added_but_back_orderable_ones_can(browser, db):
    sold_out = variant_with_stock(db, 0, product__name="Washi Tape")
    backorder = variant_with_stock(db, 0, allow_backorder=True)
    response = browser.post("/cart/add", {"variant_id": sold_out.id, "quantity": 1})
    assert response.status_code == 409
    assert "sold out" in response.get_data(as_text=True)
    assert browser.post("/cart/add", {"variant_id": backorder.id, "quantity": 4}).status_code == 303
    assert _lines(db) == {backorder.id: 4}


def test_malformed_cart_input_answers_4xx_and_changes_nothing(browser, db):
    v = variant_with_stock(db, 5)
    cases = [
        {"variant_id": v.id, "quantity": "abc"},
        {"variant_id": v.id, "quantity": "0"},
        {"variant_id": v.id, "quantity": "-2"},
        {"variant_id": "x", "quantity": "1"},
        {"quantity": "1"},
        {"variant_id": 999999, "quantity": "1"},
        {"variant_id": v.id, "quantity": "100000000000000000000"},
    ]
    for data in cases:
        response = browser.post("/cart/add", data)
        assert 400 <= response.status_code < 500, (data, response.status_code)
    assert _lines(db) == {}


def test_updating_sets_quantity_and_zero_removes_the_line(browser, db):
    v = variant_with_stock(db, 10)
    w = variant_with_stock(db, 10)
    browser.post("/cart/add", {"variant_id": v.id, "quantity": 1})
    browser.post("/cart/add", {"variant_id": w.id, "quantity": 1})
    assert browser.post("/cart/update", {"variant_id": v.id, "quantity": 6}).status_code == 303
    response = browser.post("/cart/update", {"variant_id": w.id, "quantity": 0}, htmx=True)
    body = response.get_data(as_text=True)
    assert "Removed from your cart." in body
    assert 'data-count="6"' in body
    assert _lines(db) == {v.id: 6}


def test_raising_a_quantity_beyond_stock_is_refused_and_keeps_the_old_quantity(browser, db):
    v = variant_with_stock(db, 4)
    browser.post("/cart/add", {"variant_id": v.id, "quantity": 2})
    response = browser.post("/cart/update", {"variant_id": v.id, "quantity": 5})
    assert response.status_code == 409
    assert "Only 4" in response.get_data(as_text=True)
    assert _lines(db) == {v.id: 2}


def test_a_tampered_cart_cookie_is_ignored(browser, db):
    v = variant_with_stock(db, 4)
    browser.post("/cart/add", {"variant_id": v.id, "quantity": 1})
    browser.client.set_cookie("hf_cart", "forged.value")
    response = browser.get("/cart")
    assert response.status_code == 200
    assert "Your cart is empty" in response.get_data(as_text=True)


def test_two_guests_have_separate_carts(app, db):
    v = variant_with_stock(db, 10)
    alice, bob = Browser(app.test_client()), Browser(app.test_client())
    alice.post("/cart/add", {"variant_id": v.id, "quantity": 2})
    bob.post("/cart/add", {"variant_id": v.id, "quantity": 5})
    assert 'data-count="2"' in alice.get("/cart").get_data(as_text=True)
    assert 'data-count="5"' in bob.get("/cart").get_data(as_text=True)
    assert db.scalar(select(Cart.id).where(Cart.user_id.is_not(None))) is None


def test_a_guest_cart_merges_into_the_account_cart_on_login(browser, db):
    user = UserFactory(email="merge@example.com")
    kept = variant_with_stock(db, 10)
    scarce = variant_with_stock(db, 3)
    # The account already holds one line from an earlier visit.
    earlier = Browser(browser.client.application.test_client())
    earlier.post("/login", {"email": "merge@example.com", "password": "correct horse battery"})
    earlier.post("/cart/add", {"variant_id": scarce.id, "quantity": 2})

    browser.post("/cart/add", {"variant_id": kept.id, "quantity": 1})
    browser.post("/cart/add", {"variant_id": scarce.id, "quantity": 2})
    response = browser.post(
        "/login", {"email": "merge@example.com", "password": "correct horse battery"}
    )
    assert response.status_code == 303
    carts = list(db.scalars(select(Cart)))
    assert [c.user_id for c in carts] == [user.id]
    # Quantities add up, capped at what is available.
    assert _lines(db) == {kept.id: 1, scarce.id: 3}
    assert 'data-count="4"' in browser.get("/cart").get_data(as_text=True)


def test_the_cart_leads_to_checkout_unless_an_item_is_short(browser, db):
    v = variant_with_stock(db, 3)
    browser.post("/cart/add", {"variant_id": v.id, "quantity": 2})
    assert 'href="/checkout">Check out</a>' in browser.get("/cart").get_data(as_text=True)
    db.execute(v.__table__.update().where(v.__table__.c.id == v.id).values(on_hand=1))
    html = browser.get("/cart").get_data(as_text=True)
    assert "Check out</a>" not in html and "Only 1 left" in html
