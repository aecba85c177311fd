"""Checkout addresses: the country is chosen from a maintained list (shown by name, kept as its
two-letter code, checked on the server), an optional second line, region and phone travel from
the form to the order page (a guest link still hides the street lines and the phone); an
account keeps the addresses it checks out with, fills the form from them, and manages them on
its page; only their owner can touch them."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.models import Checkout, Order, Reservation, SavedAddress
from app.services.orders.order_book import OrderLinks
from tests.account_helpers import logged_in
from tests.admin_helpers import text
from tests.checkout_helpers import ADDRESS, buy, checkout_path, fill_cart, start_checkout
from tests.conftest import Browser, make_test_app
from tests.factories import UserFactory, variant_with_stock

EXTRA = {
    "address_line2": "Flat 3, second floor",
    "region": "Greater London",
    "phone": "+44 (20) 7946-0958",
}
HOME = {
    "full_name": "Ada King",
    "address_line1": "1 Marylebone Road",
    "address_line2": "",
    "city": "London",
    "region": "",
    "postal_code": "NW1 5LR",
    "country": "GB",
    "phone": "",
}
WORK = {**HOME, "address_line1": "10 Downing Street", "postal_code": "SW1A 2AA"}


def _selected_country(html: str) -> str:
    select_html = re.search(r'<select[^>]*name="country".*?</select>', html, re.S).group(0)
    (option,) = re.findall(r"<option[^>]*\bselected\b[^>]*>", select_html)
    return re.search(r'value="(\w+)"', option).group(1)


def _value(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert match, name
    found = re.search(r'value="([^"]*)"', match.group(0))
    return found.group(1) if found else ""


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


# ---------------------------------------------------------------- the form


def test_the_country_is_a_select_of_names_with_the_us_preselected(browser, db):
    fill_cart(browser, (variant_with_stock(db, 5), 1))
    html = text(browser.get("/checkout"))
    assert '<option value="DE">Germany</option>' in html
    assert '<option value="GB">United Kingdom</option>' in html
    assert _selected_country(html) == "US"
    assert "2-letter" not in html
    for label in ("Address line 2 (optional)", "State / region (optional)", "Phone (optional)"):
        assert label in html
    assert "Save this address" not in html  # a guest has no account to save to


def test_the_shops_country_setting_is_preselected(database_url, db):
    app = make_test_app(database_url, SHOP_COUNTRY="de")
    try:
        browser = Browser(app.test_client())
        fill_cart(browser, (variant_with_stock(db, 5), 1))
        assert _selected_country(text(browser.get("/checkout"))) == "DE"
    finally:
        app.extensions["holdfast.db"].dispose()


@pytest.mark.parametrize("country", ["XX", "Germany", "", "U"])
def test_a_country_not_on_the_list_is_refused_in_place_and_holds_nothing(browser, db, country):
    fill_cart(browser, (variant_with_stock(db, 5), 1))
    response = start_checkout(browser, country=country)
    assert response.status_code == 422
    html = text(response)
    assert "Choose your country" in html
    assert 'class="field-error"' in html and "<h1>Checkout</h1>" in html
    assert _count(db, Reservation) == 0 and _count(db, Checkout) == 0


@pytest.mark.parametrize(
    "phone,ok",
    [
        ("+44 (20) 7946-0958", True),
        ("555 0134", True),
        ("", True),
        ("12345", False),  # five digits
        ("call me maybe", False),
        ("+1 555 0134 ext. 9", False),
        ("1" * 21, False),
    ],
)
def test_the_phone_is_checked_loosely(browser, db, phone, ok):
    fill_cart(browser, (variant_with_stock(db, 5), 1))
    response = start_checkout(browser, phone=phone)
    if ok:
        checkout_path(response)
        return
    assert response.status_code == 422
    assert "phone number of 6 to 20 digits" in text(response)
    assert _count(db, Checkout) == 0


def test_line_2_region_and_phone_reach_the_review_and_order_pages(app, browser, db):
    tee = variant_with_stock(db, 5)
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser, **EXTRA))
    review = text(browser.get(path))
    for part in ("Flat 3, second floor", "Greater London", "+44 (20) 7946-0958", "United Kingdom"):
        assert part in review, part
    order_url = buy(browser, variant_with_stock(db, 5), 1, **EXTRA)
    order = db.scalar(select(Order))
    assert (order.country, order.address_line2, order.region, order.phone) == (
        "GB",
        EXTRA["address_line2"],
        EXTRA["region"],
        EXTRA["phone"],
    )
    html = text(browser.get(order_url))
    for part in ("Flat 3, second floor", "Greater London", "7946-0958", "United Kingdom"):
        assert part in html, part

    link = OrderLinks.from_config(app.config).link(order)
    by_link = text(Browser(app.test_client()).get("/orders/" + link.split("/orders/", 1)[1]))
    assert "Greater London" in by_link and "United Kingdom" in by_link
    for hidden in ("St James", "Flat 3", "7946"):
        assert hidden not in by_link, hidden


def test_the_admin_order_page_shows_the_whole_address(app, browser, db):
    from app.models import Role
    from tests.admin_helpers import signed_in

    buy(browser, variant_with_stock(db, 5), 1, **EXTRA)
    number = db.scalar(select(Order.number))
    owner = signed_in(app, Role.OWNER)
    html = text(owner.get(f"/admin/orders/{number}"))
    for part in ("Flat 3, second floor", "Greater London", "7946-0958", "United Kingdom (GB)"):
        assert part in html, part


# ---------------------------------------------------------------- saved addresses


def _shopper(app, db, **user):
    person = UserFactory(name="Ada King", **user)
    return person, logged_in(app, person.email)


def _save(browser, db, address: dict, save: bool = True) -> str:
    fill_cart(browser, (variant_with_stock(db, 5), 1))
    data = {**ADDRESS, **address}
    if save:
        data["save_address"] = "y"
    return checkout_path(start_checkout(browser, **data))


def test_an_account_is_prefilled_and_keeps_the_address_it_checks_out_with(app, db):
    person, shopper = _shopper(app, db)
    fill_cart(shopper, (variant_with_stock(db, 5), 1))
    first = text(shopper.get("/checkout"))
    assert _value(first, "email") == person.email and _value(first, "full_name") == "Ada King"
    assert _value(first, "address_line1") == ""
    assert re.search(
        r'<input[^>]*checked[^>]*name="save_address"|name="save_address"[^>]*checked', first
    )

    _save(shopper, db, {**HOME, "phone": "555 0134", "region": "Marylebone"})
    (saved,) = db.scalars(select(SavedAddress)).all()
    assert saved.user_id == person.id and saved.is_default and saved.phone == "555 0134"
    assert db.scalar(select(Checkout.user_id)) == person.id  # the account's checkout

    again = text(shopper.get("/checkout"))
    assert _value(again, "address_line1") == "1 Marylebone Road"
    assert _value(again, "region") == "Marylebone" and _value(again, "phone") == "555 0134"
    account = text(shopper.get("/account"))
    assert "1 Marylebone Road" in account and "Your default address" in account

    _save(shopper, db, HOME | {"phone": "555 0134", "region": "Marylebone"})  # the same again
    assert _count(db, SavedAddress) == 1


def test_unticking_save_keeps_nothing_and_guests_never_save(app, browser, db):
    _person, shopper = _shopper(app, db)
    _save(shopper, db, HOME, save=False)
    _save(browser, db, HOME, save=True)  # a guest's tick means nothing
    assert _count(db, SavedAddress) == 0


def test_without_saved_addresses_the_last_orders_address_fills_the_form(app, db):
    person, shopper = _shopper(app, db)
    buy(shopper, variant_with_stock(db, 5), 1, **WORK)
    assert db.scalar(select(Order.user_id)) == person.id  # a logged-in shopper's order is theirs
    fill_cart(shopper, (variant_with_stock(db, 5), 1))
    assert _value(text(shopper.get("/checkout")), "address_line1") == "10 Downing Street"


def test_a_shopper_with_several_addresses_picks_one_without_javascript(app, db):
    _person, shopper = _shopper(app, db)
    _save(shopper, db, HOME)
    _save(shopper, db, WORK)
    home, work = db.scalars(select(SavedAddress).order_by(SavedAddress.id)).all()
    assert home.is_default and not work.is_default
    fill_cart(shopper, (variant_with_stock(db, 5), 1))
    page = text(shopper.get("/checkout"))
    assert _value(page, "address_line1") == "1 Marylebone Road"  # the default
    assert f'href="/checkout?address={work.id}"' in page
    picked = text(shopper.get(f"/checkout?address={work.id}"))
    assert _value(picked, "address_line1") == "10 Downing Street"
    assert _value(picked, "postal_code") == "SW1A 2AA"


def test_make_default_and_delete_from_the_account_page(app, db):
    _person, shopper = _shopper(app, db)
    _save(shopper, db, HOME)
    _save(shopper, db, WORK)
    home, work = db.scalars(select(SavedAddress).order_by(SavedAddress.id)).all()
    shopper.get("/account")
    answer = shopper.post(f"/account/addresses/{work.id}/default")
    assert answer.status_code == 303
    db.expire_all()
    assert [a.is_default for a in db.scalars(select(SavedAddress).order_by(SavedAddress.id))] == [
        False,
        True,
    ]
    assert "now your default" in text(shopper.get("/account"))
    assert shopper.post(f"/account/addresses/{work.id}/delete").status_code == 303
    db.expire_all()
    (left,) = db.scalars(select(SavedAddress)).all()
    assert left.id == home.id and left.is_default  # the one left becomes the default
    assert "10 Downing Street" not in text(shopper.get("/account"))


def test_someone_elses_address_is_not_found_and_stays_as_it_was(app, db):
    owner, owner_browser = _shopper(app, db)
    _save(owner_browser, db, HOME)
    _save(owner_browser, db, WORK)
    home, work = db.scalars(select(SavedAddress).order_by(SavedAddress.id)).all()
    _other, other = _shopper(app, db)
    other.get("/account")
    assert other.post(f"/account/addresses/{work.id}/default").status_code == 404
    assert other.post(f"/account/addresses/{home.id}/delete").status_code == 404
    fill_cart(other, (variant_with_stock(db, 5), 1))
    refused = other.get(f"/checkout?address={home.id}")
    assert refused.status_code == 404 and "Marylebone" not in text(refused)
    db.expire_all()
    rows = db.scalars(select(SavedAddress).order_by(SavedAddress.id)).all()
    assert [(a.user_id, a.is_default) for a in rows] == [(owner.id, True), (owner.id, False)]
    assert "Marylebone" not in text(other.get("/account"))


def test_the_address_forms_need_a_csrf_token_and_a_login(app, db):
    _person, shopper = _shopper(app, db)
    _save(shopper, db, HOME)
    address_id = db.scalar(select(SavedAddress.id))
    forged = shopper.client.post(f"/account/addresses/{address_id}/delete")
    assert forged.status_code == 400
    anonymous = app.test_client().post(f"/account/addresses/{address_id}/delete")
    assert anonymous.status_code in (302, 400)
    assert _count(db, SavedAddress) == 1
