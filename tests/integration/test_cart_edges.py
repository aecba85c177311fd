"""Cart and checkout rough edges (issue 15): a refused quantity is answered beside its line,
once, with a 4xx and nothing changed; messages are not repeated; the empty cart leads back to
the catalogue; lines show the product's thumbnail; the countdown speaks through one live region."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.models import CartLine, ProductImage
from tests.checkout_helpers import buy, checkout_path, fill_cart, start_checkout
from tests.conftest import Browser
from tests.factories import variant_with_stock


def _lines(db) -> dict[int, int]:
    db.expire_all()
    return {line.variant_id: line.quantity for line in db.scalars(select(CartLine))}


def _row(html: str, variant_id: int) -> str:
    match = re.search(rf'<tr id="line-{variant_id}">(.*?)</tr>', html, re.S)
    assert match, f"no cart line for variant {variant_id}"
    return match.group(1)


def _subtotal(html: str) -> int:
    return int(re.search(r'id="cart-subtotal" data-cents="(\d+)"', html).group(1))


def _two_line_cart(browser, db):
    cap = variant_with_stock(db, 5, product__name="Wool Cap", price_cents=1500)
    mug = variant_with_stock(db, 10, product__name="Camp Mug", price_cents=900)
    fill_cart(browser, (cap, 2), (mug, 1))
    return cap, mug


def _assert_refused_in_place(response, message: str, status: int, cap, mug, *, htmx: bool):
    html = response.get_data(as_text=True)
    assert response.status_code == status, html
    assert ("<html" in html) is (not htmx)
    assert html.count(message) == 1, html
    row = _row(html, cap.id)
    assert message in row
    assert 'aria-invalid="true"' in row and f'aria-describedby="qty-error-{cap.id}"' in row
    assert 'value="2"' in row  # the quantity box keeps what is in the cart
    assert message not in _row(html, mug.id)
    assert _subtotal(html) == 2 * 1500 + 900


def test_999_is_refused_beside_its_line_with_and_without_htmx(browser, db):
    cap, mug = _two_line_cart(browser, db)
    page = browser.get("/cart").get_data(as_text=True)
    # No max attribute: the browser's tooltip would stop the form before the server answers.
    assert not re.search(rf'id="qty-{cap.id}"[^>]*\bmax=', page)
    for htmx in (True, False):
        response = browser.post("/cart/update", {"variant_id": cap.id, "quantity": 999}, htmx=htmx)
        # Over the limit and over stock: one message, the limit's.
        _assert_refused_in_place(
            response, "You can buy at most 99 of one item per order.", 409, cap, mug, htmx=htmx
        )
        assert "available; you asked for" not in response.get_data(as_text=True)
    assert _lines(db) == {cap.id: 2, mug.id: 1}


def test_more_than_is_in_stock_is_refused_beside_its_line(browser, db):
    cap, mug = _two_line_cart(browser, db)
    message = f"Only 5 of Wool Cap ({cap.label}) available; you asked for 6."
    for htmx in (True, False):
        response = browser.post("/cart/update", {"variant_id": cap.id, "quantity": 6}, htmx=htmx)
        _assert_refused_in_place(response, message, 409, cap, mug, htmx=htmx)
    assert _lines(db) == {cap.id: 2, mug.id: 1}


def test_a_quantity_the_form_cannot_take_is_a_422_beside_its_line(browser, db):
    cap, mug = _two_line_cart(browser, db)
    response = browser.post("/cart/update", {"variant_id": cap.id, "quantity": 5000}, htmx=True)
    _assert_refused_in_place(response, "Enter a quantity from 0 to 999.", 422, cap, mug, htmx=True)
    response = browser.post("/cart/update", {"variant_id": cap.id, "quantity": "lots"})
    assert response.status_code == 422
    assert _lines(db) == {cap.id: 2, mug.id: 1}


def test_a_sold_out_line_says_so_once(app, browser, db):
    tee = variant_with_stock(db, 1, product__name="Harbor Tee")
    fill_cart(browser, (tee, 1))
    other = Browser(app.test_client())
    fill_cart(other, (tee, 1))
    checkout_path(start_checkout(other))  # the other shopper's hold takes the last one
    html = browser.get("/cart").get_data(as_text=True)
    assert html.lower().count("sold out") == 1, html
    assert "Sold out" in _row(html, tee.id)
    assert "Fix the items marked above" in html


def test_checkout_with_an_empty_cart_says_so_once_and_offers_the_catalogue(browser):
    response = browser.get("/checkout")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/cart")
    html = browser.get("/cart").get_data(as_text=True)
    assert html.count("Your cart is empty.") == 1
    assert re.search(r'<a class="button primary" href="/">Continue shopping</a>', html)


def test_a_refused_add_offers_go_back_only_on_a_page_of_its_own(browser, db):
    cap = variant_with_stock(db, 1, product__name="Wool Cap")
    product = "/products/" + cap.product.slug
    data = {"variant_id": cap.id, "quantity": 3}
    swapped = browser.post("/cart/add", data, htmx=True, headers={"Referer": product})
    assert swapped.status_code == 409
    assert "Go back" not in swapped.get_data(as_text=True)  # it is swapped into that page
    page = browser.post("/cart/add", data, headers={"Referer": f"http://localhost{product}"})
    assert page.status_code == 409
    assert f'<a href="{product}">Go back</a>' in page.get_data(as_text=True)


def _thumb(html: str, image_id: int) -> str:
    match = re.search(
        rf'<img class="line-thumb" src="/media/images/{image_id}\?size=card"[^>]*>', html
    )
    assert match, html
    return match.group(0)


def test_cart_checkout_and_review_lines_show_the_first_product_image(browser, db):
    tee = variant_with_stock(db, 5, product__name="Harbor Tee")
    plain = variant_with_stock(db, 5, product__name="Plain Mug")
    second = ProductImage(product_id=tee.product_id, data=b"<svg/>", alt="Back", position=1)
    first = ProductImage(
        product_id=tee.product_id, data=b"<svg/>", alt="Harbor Tee, front", position=0
    )
    db.add_all([second, first])
    db.commit()
    fill_cart(browser, (tee, 1), (plain, 1))
    cart = browser.get("/cart").get_data(as_text=True)
    start = browser.get("/checkout").get_data(as_text=True)
    review = browser.get(checkout_path(start_checkout(browser))).get_data(as_text=True)
    for html in (cart, start, review):
        img = _thumb(html, first.id)
        assert 'width="64"' in img and 'height="64"' in img
        assert 'loading="lazy"' in img and 'alt="Harbor Tee, front"' in img
        assert html.count('class="line-thumb"') == 1  # the mug has no image: none shown
    assert browser.get(f"/media/images/{first.id}?size=card").status_code == 200


def test_the_countdown_speaks_through_one_live_region_outside_the_swapped_part(browser, db):
    tee = variant_with_stock(db, 5)
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    html = browser.get(path).get_data(as_text=True)
    assert html.count("aria-live=") == 1
    live = html.index('id="countdown-live"')
    assert 'aria-live="polite"' in html[live - 40 : live + 120]
    assert live < html.index('id="countdown-region"')
    fragment = browser.get(f"{path}/countdown", headers={"HX-Request": "true"})
    assert "aria-live" not in fragment.get_data(as_text=True)
    assert "countdown-live" not in fragment.get_data(as_text=True)


def test_a_line_shows_its_colours_photo_on_every_page_to_the_order(browser, db):
    """The owner tied the sand photo to Sand: a Sand tee's line shows it, in the cart, the
    checkout, the review and on the order page after payment; the first photo otherwise."""
    sand = variant_with_stock(db, 5, product__name="Harbor Tee", colour="Sand")
    whole = ProductImage(product_id=sand.product_id, data=b"<svg/>", alt="Harbor Tee", position=0)
    sand_photo = ProductImage(
        product_id=sand.product_id, data=b"<svg/>", alt="In sand", position=1, colour="sand"
    )
    db.add_all([whole, sand_photo])
    db.commit()
    fill_cart(browser, (sand, 1))
    cart = browser.get("/cart").get_data(as_text=True)
    start = browser.get("/checkout").get_data(as_text=True)
    for html in (cart, start):
        assert 'alt="In sand"' in _thumb(html, sand_photo.id)
    browser.client.delete_cookie("hf_cart")
    order_url = buy(browser, sand)
    order = browser.get(order_url).get_data(as_text=True)
    assert 'alt="In sand"' in _thumb(order, sand_photo.id)
    assert f"/media/images/{whole.id}?size=card" not in order
