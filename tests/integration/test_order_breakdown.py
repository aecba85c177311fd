"""After checkout, the price breakdown everywhere: the shopper's order page, the admin's order
page and the order emails show each line's price, discount and tax and the totals block
(Subtotal, Discount, Shipping with its rate, Tax, Total), the tax returned by each refund is its
pro-rata share and all refunds together return exactly the tax paid. Orders are bought through
the pages (testpay) from a shop that ships to the UK for $4.00 and charges 20 % VAT on goods
and shipping. Every test runs on SQLite and on Postgres."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from app.models import Order, OrderLine, OutboxMessage, Refund, Role
from app.providers import get_provider
from app.services.mail import rendering
from app.services.orders import aftersales, refunds
from app.services.orders.order_book import OrderLinks
from tests.admin_helpers import signed_in, text
from tests.breakdown_helpers import RATE_NAME, bought, uk_shop


def _refund(app, number, **kwargs) -> Refund:
    session = app.extensions["holdfast.db"].session_factory()
    try:
        return refunds.refund_order(
            session,
            lambda n: get_provider(n, app.config),
            number,
            reason=kwargs.pop("reason", "customer asked"),
            links=OrderLinks.from_config(app.config),
            **kwargs,
        )
    finally:
        session.close()


def totals_block(html: str) -> list[tuple[str, str]]:
    """The (label, value) rows of the page's totals block, in order."""
    rows = re.findall(r'<tr class="totals-row totals-([\w-]+)">(.*?)</tr>', html, re.S)
    shown = []
    for kind, cells in rows:
        words = [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", cells)
        ]
        shown.append(tuple(words) if kind != "tax-included" else ("", words[0]))
    return shown


def line_cells(html: str, css: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", c).strip()
        for c in re.findall(rf'<td[^>]*class="{css}">(.*?)</td>', html)
    ]


def rendered(db, order: Order, template: str) -> tuple[str, str]:
    """The (text, HTML) of the order's email of ``template``, from its outbox row."""
    db.expire_all()
    row = db.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.order_id == order.id, OutboxMessage.template == template)
        .order_by(OutboxMessage.id.desc())
    )
    assert row is not None, f"no {template} email"
    return rendering.render(
        template, row.context, shop_name="Shop", shop_url="https://shop.example"
    )


# ---------------------------------------------------------------- pages and emails


def test_tax_added_to_prices_is_a_line_of_its_own_on_the_order_page(app, browser, db):
    uk_shop(db, inclusive=False)
    order = bought(db, browser)  # 2 × $20.00

    assert (order.subtotal_cents, order.tax_cents, order.total_cents) == (4000, 880, 5280)
    html = text(browser.get(f"/orders/{order.number}"))
    assert totals_block(html) == [
        ("Subtotal", "$40.00"),
        (f"Shipping ({RATE_NAME})", "$4.00"),
        ("Tax", "$8.80"),
        ("Total", "$52.80"),
    ]
    assert line_cells(html, "line-price") == ["$20.00"]
    assert line_cells(html, "line-tax") == ["20% · $8.00"]
    assert line_cells(html, "line-total") == ["$40.00"]
    assert "Includes" not in html


def test_tax_within_prices_is_said_under_the_total(app, browser, db):
    uk_shop(db, inclusive=True)
    order = bought(db, browser)

    html = text(browser.get(f"/orders/{order.number}"))
    assert totals_block(html) == [
        ("Subtotal", "$40.00"),
        (f"Shipping ({RATE_NAME})", "$4.00"),
        ("Total", "$44.00"),
        ("", "Includes $7.34 tax"),  # $6.67 on the goods, $0.67 on shipping
    ]
    assert line_cells(html, "line-tax") == ["20% · $6.67"]


def test_an_order_without_shipping_charge_or_tax_reads_as_before(app, browser, db):
    order = bought(db, browser)  # a shop with no zones ships free; no tax rates

    html = text(browser.get(f"/orders/{order.number}"))
    assert totals_block(html) == [("Subtotal", "$40.00"), ("Shipping", "Free"), ("Total", "$40.00")]
    assert 'class="line-tax"' not in html and 'class="line-discount"' not in html


def test_a_discount_shows_on_its_line_and_with_its_code(app, browser, db):
    uk_shop(db, inclusive=False)
    order = bought(db, browser)
    # Taken off as pricing would: $10.00 off $40.00 → tax 20 % of $30.00 + of $4.00 shipping.
    db.execute(
        OrderLine.__table__.update()
        .where(OrderLine.order_id == order.id)
        .values(discount_cents=1000, tax_cents=600)
    )
    db.execute(
        Order.__table__.update()
        .where(Order.id == order.id)
        .values(discount_cents=1000, discount_code="WELCOME10", tax_cents=680, total_cents=4080)
    )

    html = text(browser.get(f"/orders/{order.number}"))
    assert totals_block(html) == [
        ("Subtotal", "$40.00"),
        ("Discount (WELCOME10)", "-$10.00"),
        (f"Shipping ({RATE_NAME})", "$4.00"),
        ("Tax", "$6.80"),
        ("Total", "$40.80"),
    ]
    assert line_cells(html, "line-discount") == ["-$10.00"]


def test_the_admin_order_page_shows_the_same_breakdown(app, browser, db):
    uk_shop(db, inclusive=True)
    order = bought(db, browser)

    html = text(signed_in(app, Role.OWNER).get(f"/admin/orders/{order.number}"))
    assert totals_block(html) == [
        ("Subtotal", "$40.00"),
        (f"Shipping ({RATE_NAME})", "$4.00"),
        ("Total", "$44.00"),
        ("", "Includes $7.34 tax"),
    ]
    assert line_cells(html, "line-tax") == ["20% · $6.67"]
    assert "Prices on this order include tax." in html


def test_the_confirmation_email_carries_the_breakdown_in_text_and_html(app, browser, db):
    uk_shop(db, inclusive=False)
    order = bought(db, browser)

    plain, html = rendered(db, order, "order_confirmed")
    for words in (
        "Subtotal: $40.00",
        f"Shipping ({RATE_NAME}): $4.00",
        "Tax: $8.80",
        "Total: $52.80",
        "tax 20% $8.00",
    ):
        assert words in plain, plain
    for words in ("Subtotal", f"Shipping ({RATE_NAME})", "$8.80", "$52.80", "Tax 20% $8.00"):
        assert words in html


def test_an_email_queued_before_breakdowns_still_renders_its_total(app, browser, db):
    bought(db, browser)
    db.expire_all()
    row = db.scalar(select(OutboxMessage).where(OutboxMessage.template == "order_confirmed"))
    old = {k: v for k, v in row.context.items() if k not in ("totals", "tax_cents")}
    old["items"] = [
        {k: item[k] for k in ("name", "sku", "quantity", "unit_price", "line_total")}
        for item in old["items"]
    ]

    plain, html = rendering.render("order_confirmed", old, shop_name="S", shop_url="https://s")
    assert "Total: $40.00" in plain and "$40.00" in html


# ---------------------------------------------------------------- refunds return tax


def test_partial_refunds_return_tax_pro_rata_and_the_last_returns_the_rest(app, browser, db):
    uk_shop(db, inclusive=False)
    order = bought(db, browser)  # $52.80, of which $8.80 tax

    first = _refund(app, order.number, amount_cents=1000, idempotency_key="r1")
    second = _refund(app, order.number, amount_cents=2000, idempotency_key="r2")
    rest = _refund(app, order.number, idempotency_key="r3")

    # 8.80 × 10/52.80 = 1.6667 → 1.67; × 30/52.80 = 5.00 → 3.33 more; the rest 3.80
    assert [(r.amount_cents, r.tax_cents) for r in (first, second, rest)] == [
        (1000, 167),
        (2000, 333),
        (2280, 380),
    ]
    assert first.tax_cents + second.tax_cents + rest.tax_cents == order.tax_cents
    plain, html = rendered(db, order, "refunded")
    assert "We refunded $22.80 (of which $3.80 tax)" in plain
    assert "(of which $3.80 tax)" in html
    admin = text(signed_in(app, Role.OWNER).get(f"/admin/orders/{order.number}"))
    assert "$10.00, of which $1.67 tax" in admin and "$22.80, of which $3.80 tax" in admin
    shopper = text(browser.get(f"/orders/{order.number}"))
    assert "Refunded 10.00 USD (of which 1.67 tax)" in shopper


def test_a_full_refund_returns_exactly_the_tax_paid(app, browser, db):
    uk_shop(db, inclusive=True)
    order = bought(db, browser)  # $44.00, of which $7.34 tax

    refund = _refund(app, order.number, idempotency_key="all")

    assert (refund.amount_cents, refund.tax_cents) == (4400, 734)
    with pytest.raises(refunds.RefundError):
        _refund(app, order.number, amount_cents=1, idempotency_key="more")


def test_an_order_without_tax_refunds_no_tax(app, browser, db):
    order = bought(db, browser)

    refund = _refund(app, order.number, amount_cents=1500, idempotency_key="r")

    assert (refund.amount_cents, refund.tax_cents) == (1500, 0)
    plain, _html = rendered(db, order, "refunded")
    assert "We refunded $15.00 for order" in plain


def test_a_returned_unit_refunds_what_it_cost_with_its_tax(app, browser, db):
    uk_shop(db, inclusive=False)
    order = bought(db, browser)  # 2 × $20.00 + 20 % tax
    links = OrderLinks.from_config(app.config)
    session = app.extensions["holdfast.db"].session_factory()
    providers = lambda n: get_provider(n, app.config)  # noqa: E731
    try:
        aftersales.ship_order(
            session, order.number, carrier="DHL", tracking="T1", actor="t", links=links
        )
        line_id = order.lines[0].id
        first = aftersales.request_return(session, order.number, line_id, 1, "too big", actor="t")
        second = aftersales.request_return(session, order.number, line_id, 1, "also", actor="t")
        for ret in (first, second):
            aftersales.receive_return(session, providers, ret.id, actor="t", links=links)
    finally:
        session.close()

    db.expire_all()
    got = db.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.id)).all()
    assert [(r.amount_cents, r.tax_cents) for r in got] == [(2400, 400), (2400, 400)]
    rest = _refund(app, order.number, idempotency_key="shipping")  # the shipping, with its tax
    assert (rest.amount_cents, rest.tax_cents) == (480, 80)


def test_the_orders_csv_has_the_breakdown_and_the_tax_refunded(app, browser, db):
    uk_shop(db, inclusive=False)
    order = bought(db, browser)
    _refund(app, order.number, amount_cents=1000, idempotency_key="r1")

    answer = signed_in(app, Role.OWNER).get("/admin/orders.csv")
    (row,) = csv.DictReader(io.StringIO(text(answer)))
    assert {k: row[k] for k in ("subtotal", "discount", "shipping", "tax", "total")} == {
        "subtotal": "40.00",
        "discount": "0.00",
        "shipping": "4.00",
        "tax": "8.80",
        "total": "52.80",
    }
    assert (row["prices_include_tax"], row["refunded"], row["refunded_tax"]) == (
        "no",
        "10.00",
        "1.67",
    )
