"""Orders in the shopper's words: a paid T-shirt reads "Processing" (never "Delivered") with
its shipping address, then "Shipped" with the carrier and a tracking link; keys read
"Delivered"; back-orders read "Waiting for stock"; the account's history names each order and
says its status in words. No raw status value reaches these pages."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.models import Order as OrderRow
from app.models import OrderStatus, ProductKind, Role
from app.services.orders import aftersales
from app.services.orders.order_book import OrderLinks
from app.services.stock import keys
from tests.admin_helpers import signed_in, text
from tests.checkout_helpers import (
    ADDRESS,
    approval_ref,
    approve,
    buy,
    checkout_path,
    fill_cart,
    pay,
    start_checkout,
)
from tests.conftest import Browser
from tests.factories import ProductFactory, VariantFactory, variant_with_stock

# Raw values that read like words ("paid", "shipped") are checked in the status elements;
# these never appear anywhere on the page, attributes included.
RAW = re.compile("|".join(s.value for s in OrderStatus if "_" in s.value))


def _status(html: str) -> str:
    return re.search(r'<p class="order-status"[^>]*>(.*?)</p>', html, re.S).group(1)


def _line_statuses(html: str) -> list[str]:
    return re.findall(r'<td class="line-status">(.*?)</td>', html)


def _no_raw_values(html: str) -> None:
    assert not RAW.search(html), RAW.search(html).group(0)
    shown = [_status(html), *_line_statuses(html)] if "order-status" in html else []
    shown += re.findall(r'<td class="order-label">(.*?)</td>', html)
    for words in shown:
        assert not re.search(r"\b(paid|fulfilled|shipped|awaiting)\b", words), words


def _ship(app, number: str, carrier: str, tracking: str) -> None:
    session = app.extensions["holdfast.db"].session_factory()
    links = OrderLinks.from_config(app.config)
    aftersales.ship_order(
        session, number, carrier=carrier, tracking=tracking, actor="owner", links=links
    )
    session.close()


def _tee(db, stock=5, **kwargs):
    product = ProductFactory(name="Harbour T-shirt")
    return variant_with_stock(db, stock, product=product, price_cents=2500, **kwargs)


def test_a_paid_t_shirt_is_processing_then_shipped_with_a_tracking_link(app, browser, db):
    order_url = buy(browser, _tee(db), 2)
    html = text(browser.get(order_url))
    assert "Processing" in _status(html) and "Your payment was received" in html
    assert _line_statuses(html) == ["Processing"]
    assert "Delivered" not in html and "still coming" not in html
    for part in (
        ADDRESS["full_name"],
        ADDRESS["address_line1"],
        "London",
        "SW1Y 4JH",
        "United Kingdom",
    ):
        assert part.replace("'", "&#39;") in html, part
    _no_raw_values(html)

    number = db.scalar(select(OrderRow.number))
    _ship(app, number, "UPS", "1Z 999AA1")
    html = text(browser.get(order_url))
    assert "Shipped" in _status(html) and _line_statuses(html) == ["Shipped"]
    assert "Shipped with UPS" in html and "1Z 999AA1" in html
    assert 'href="https://www.ups.com/track?tracknum=1Z%20999AA1"' in html
    assert "Delivered" not in html
    _no_raw_values(html)


def test_an_unknown_carrier_shows_the_tracking_number_only(app, browser, db):
    order_url = buy(browser, _tee(db), 1)
    _ship(app, db.scalar(select(OrderRow.number)), "Bob's Vans", "BV-42")
    html = text(browser.get(order_url))
    assert "BV-42" in html and "track your parcel" not in html
    assert "Shipped" in _status(html)


def test_keys_read_delivered_and_back_orders_read_waiting(app, db):
    product = ProductFactory(name="Lumen Photo Editor", kind=ProductKind.DIGITAL)
    lumen = VariantFactory(product=product, sku="LUMEN", allow_backorder=True, price_cents=4900)
    session = app.extensions["holdfast.db"].session_factory()
    keys.import_keys(session, "LUMEN", ["KEY-1"])
    session.close()
    digital = Browser(app.test_client())
    html = text(digital.get(buy(digital, lumen, 1)))
    assert "delivered" in _status(html) and _line_statuses(html) == ["Delivered"]
    assert "KEY-1" in html and "Shipping address" not in html
    _no_raw_values(html)

    waiting = Browser(app.test_client())
    throw = _tee(db, 0, allow_backorder=True)
    html = text(waiting.get(buy(waiting, throw, 2)))
    assert "Waiting for stock" in _status(html) and "back-order" in _status(html)
    assert _line_statuses(html) == ["Waiting for stock"] and "2 still coming" in html
    assert "Processing" not in html and "Delivered" not in html
    _no_raw_values(html)


def test_a_guest_link_reads_the_same_words_without_the_street(app, browser, db):
    buy(browser, _tee(db), 1)
    order = db.scalar(select(OrderRow))
    link = OrderLinks.from_config(app.config).link(order)
    html = text(Browser(app.test_client()).get("/orders/" + link.split("/orders/", 1)[1]))
    assert "Processing" in _status(html) and "SW1Y 4JH" in html
    assert "St James" not in html
    _no_raw_values(html)


def test_the_history_names_each_order_and_says_its_status(app, db):
    shopper = signed_in(app, Role.CUSTOMER, email=ADDRESS["email"])
    tee, mug, cap = _tee(db), variant_with_stock(db, 5), variant_with_stock(db, 5)
    fill_cart(shopper, (tee, 1), (mug, 1), (cap, 1))
    path = checkout_path(start_checkout(shopper))
    approve(shopper, approval_ref(pay(shopper, path)))
    assert shopper.client.get(f"{path}/return").status_code == 303
    html = text(shopper.get("/account"))
    assert "Harbour T-shirt and 2 more" in html
    assert re.findall(r'<td class="order-label">(.*?)</td>', html) == ["Processing"]
    assert "—</td>" not in html
    _no_raw_values(html)

    _ship(app, db.scalar(select(OrderRow.number)), "DHL", "JD0001")
    html = text(shopper.get("/account"))
    assert re.findall(r'<td class="order-label">(.*?)</td>', html) == ["Shipped"]
