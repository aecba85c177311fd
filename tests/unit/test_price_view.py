"""An order's prices as the order pages and emails show them (services/orders/price_view.py):
the totals block row by row for each kind of order, and each line's discount and tax."""

from __future__ import annotations

from types import SimpleNamespace

from app.services.orders.price_view import describe, totals


def order(**values) -> SimpleNamespace:
    base = {
        "subtotal_cents": 4000,
        "discount_cents": 0,
        "shipping_cents": 0,
        "shipping_tax_cents": 0,
        "tax_cents": 0,
        "prices_include_tax": False,
        "shipping_name": "",
        "discount_code": "",
        "total_cents": 4000,
        "currency": "USD",
    }
    return SimpleNamespace(**{**base, **values})


def rows(priced, ships=True) -> list[tuple[str, str]]:
    return [(row.label, row.value) for row in totals(priced, ships=ships)]


def test_tax_added_to_prices_is_its_own_row_before_the_total():
    priced = order(
        discount_cents=1000,
        discount_code="WELCOME10",
        shipping_cents=400,
        shipping_name="Standard",
        tax_cents=680,
        total_cents=4080,
    )
    assert rows(priced) == [
        ("Subtotal", "$40.00"),
        ("Discount (WELCOME10)", "-$10.00"),
        ("Shipping (Standard)", "$4.00"),
        ("Tax", "$6.80"),
        ("Total", "$40.80"),
    ]


def test_tax_within_prices_is_a_note_after_the_total():
    priced = order(tax_cents=667, prices_include_tax=True)
    assert rows(priced) == [
        ("Subtotal", "$40.00"),
        ("Shipping", "Free"),
        ("Total", "$40.00"),
        ("Includes tax", "$6.67"),
    ]


def test_digital_goods_only_have_no_shipping_row():
    assert rows(order(), ships=False) == [("Subtotal", "$40.00"), ("Total", "$40.00")]


def test_an_old_order_reads_as_subtotal_free_shipping_and_total():
    assert rows(order()) == [("Subtotal", "$40.00"), ("Shipping", "Free"), ("Total", "$40.00")]


def test_a_breakdown_that_does_not_add_up_shows_the_total_alone():
    assert rows(order(subtotal_cents=0)) == [("Total", "$40.00")]


def test_each_line_shows_its_discount_and_its_tax_rate_and_amount():
    lines = [
        SimpleNamespace(
            name="Tee",
            sku="T-1",
            quantity=2,
            unit_price_cents=2000,
            discount_cents=500,
            tax_cents=700,
            tax_percent="20",
        ),
        SimpleNamespace(
            name="Mug",
            sku="M-1",
            quantity=1,
            unit_price_cents=1000,
            discount_cents=0,
            tax_cents=0,
            tax_percent="",
        ),
    ]
    view = describe(order(subtotal_cents=5000, total_cents=5000), lines, ships=True)
    tee, mug = view.lines
    assert (tee.unit_price, tee.line_total, tee.discount, tee.tax_rate, tee.tax) == (
        "$20.00",
        "$40.00",
        "-$5.00",
        "20%",
        "$7.00",
    )
    assert (mug.discount, mug.tax_rate, mug.tax) == ("", "", "")
    assert view.any_discount and view.any_tax and view.columns == 4
