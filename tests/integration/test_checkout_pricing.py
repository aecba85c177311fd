"""Shipping, tax and discount codes at checkout, through the pages: what the review page shows
is what the shopper is charged, on SQLite and Postgres."""

from __future__ import annotations

from sqlalchemy import func, select, update

from app.models import (
    Checkout,
    DiscountCode,
    DiscountHold,
    DiscountHoldState,
    Order,
    Product,
    Refund,
)
from app.models import ProductKind as Kind
from app.services.checks import invariants as verify
from app.services.stock.inventory import availability_of
from tests.checkout_helpers import (
    approval_ref,
    approve,
    checkout_path,
    fill_cart,
    pay,
    start_checkout,
)
from tests.conftest import Browser
from tests.discount_helpers import make_code
from tests.factories import ProductFactory, variant_with_stock
from tests.pricing_helpers import prices_include_tax, rate, review_totals, tax_rate, zone

US = {"country": "us", "region": "NY", "city": "New York", "postal_code": "10001"}


def _us_shop(db):
    """A US zone with a $5 flat rate and weight-banded Express, and 7.25 % sales tax."""
    domestic = zone(db, "Domestic", "US")
    standard = rate(db, domestic, "Standard", 500)
    express = rate(db, domestic, "Express", bands=[(1000, 1200), (5000, 2000)])
    tax_rate(db, "US", 7250)
    return standard, express


def _tee(db, price_cents: int = 2800, weight: int = 300, stock: int = 10):
    return variant_with_stock(
        db, stock, product__name="Harbor Tee", price_cents=price_cents, weight_grams=weight
    )


def _amount_charged(browser, path: str) -> int:
    ref = approval_ref(pay(browser, path))
    page = browser.get(f"/testpay/pay/{ref}").get_data(as_text=True)
    return int(page.split('data-amount="', 1)[1].split('"', 1)[0]), ref


def _finish(browser, path: str, ref: str) -> str:
    approve(browser, ref)
    landed = browser.client.get(f"{path}/return")
    assert landed.status_code == 303, landed.get_data(as_text=True)
    return landed.headers["Location"]


def test_the_review_shows_shipping_and_tax_and_the_shopper_can_choose_another_rate(browser, db):
    _standard, express = _us_shop(db)
    tee = _tee(db)
    fill_cart(browser, (tee, 2))
    path = checkout_path(start_checkout(browser, **US))
    page = browser.get(path).get_data(as_text=True)
    # 2 × $28 = $56; the cheapest rate is chosen first; 7.25 % of $56 is $4.06.
    assert review_totals(page) == {
        "subtotal": 5600,
        "discount": None,
        "shipping": 500,
        "tax": 406,
        "total": 6506,
    }
    assert "Standard" in page and "Express" in page and "$12.00" in page

    chosen = browser.post(f"{path}/shipping", {"rate_id": express.id})
    assert chosen.status_code == 303
    page = browser.get(path).get_data(as_text=True)
    assert review_totals(page)["shipping"] == 1200 and review_totals(page)["total"] == 7206
    amount, ref = _amount_charged(browser, path)
    assert amount == 7206
    _finish(browser, path, ref)
    order = db.scalar(select(Order))
    assert (order.total_cents, order.shipping_cents, order.tax_cents) == (7206, 1200, 406)
    assert order.shipping_name == "Express" and order.lines[0].tax_percent == "7.25"


def test_a_rate_not_offered_or_garbage_is_refused_and_changes_nothing(browser, db):
    _us_shop(db)
    elsewhere = rate(db, zone(db, "Far away", "JP"), "Boat", 100)
    fill_cart(browser, (_tee(db), 1))
    path = checkout_path(start_checkout(browser, **US))
    for data in ({"rate_id": elsewhere.id}, {"rate_id": "abc"}, {}):
        refused = browser.post(f"{path}/shipping", data)
        assert refused.status_code == 422
        assert "Choose one of the shipping options" in refused.get_data(as_text=True)
    assert review_totals(browser.get(path).get_data(as_text=True))["shipping"] == 500


def test_a_destination_no_zone_reaches_is_told_and_nothing_is_held(browser, db):
    _us_shop(db)
    tee = _tee(db, stock=3)
    fill_cart(browser, (tee, 1))
    refused = start_checkout(browser)  # to London
    assert refused.status_code == 409
    assert "we do not ship this order to GB" in refused.get_data(as_text=True)
    assert availability_of(db, tee.id).available == 3


def test_a_cart_of_digital_goods_needs_only_an_email_and_pays_no_shipping(browser, db):
    _us_shop(db)
    ebook = variant_with_stock(
        db, 5, product=ProductFactory(name="Field Guide", kind=Kind.DIGITAL), price_cents=1000
    )
    fill_cart(browser, (ebook, 1))
    form = browser.get("/checkout").get_data(as_text=True)
    assert "no address needed" in form and 'name="address_line1"' not in form
    path = checkout_path(browser.post("/checkout", {"email": "reader@example.com"}))
    page = browser.get(path).get_data(as_text=True)
    assert "delivered by email" in page and 'id="checkout-shipping"' not in page
    # The shop's country (US) is the tax's: $10 + 7.25 %.
    assert review_totals(page)["total"] == 1073
    amount, ref = _amount_charged(browser, path)
    assert amount == 1073
    _finish(browser, path, ref)
    assert db.scalar(select(Order)).shipping_cents == 0


def test_prices_that_include_tax_have_it_taken_out_and_shipping_taxed_where_the_rate_says(
    browser, db
):
    prices_include_tax(db, True)
    rate(db, zone(db, "UK", "GB"), "Royal Mail", 500)
    tax_rate(db, "GB", 20000, on_shipping=True)
    fill_cart(browser, (_tee(db, price_cents=1200), 1))
    path = checkout_path(start_checkout(browser))
    page = browser.get(path).get_data(as_text=True)
    # £12 includes £2 VAT; £5 shipping includes £0.83; the total is what the prices say.
    assert review_totals(page) == {
        "subtotal": 1200,
        "discount": None,
        "shipping": 500,
        "tax": 283,
        "total": 1700,
    }
    assert "Tax included in the prices" in page


def test_a_discount_code_takes_its_share_and_its_one_use_is_held_then_counted(app, browser, db):
    _us_shop(db)
    make_code(db, "FIRST1", value=1000, usage_limit=1)
    fill_cart(browser, (_tee(db), 2))
    path = checkout_path(start_checkout(browser, **US))
    applied = browser.post(f"{path}/discount", {"code": " first1 "})
    assert applied.status_code == 303
    page = browser.get(path).get_data(as_text=True)
    # 10 % of $56 is $5.60; tax on $50.40 is $3.65 (3.654 rounds down).
    totals = review_totals(page)
    assert totals["discount"] == 560 and totals["tax"] == 365
    assert totals["total"] == 5600 - 560 + 500 + 365

    other = Browser(app.test_client())
    fill_cart(other, (_tee(db, price_cents=3000), 1))
    other_path = checkout_path(start_checkout(other, **US, email="grace@example.com"))
    refused = other.post(f"{other_path}/discount", {"code": "FIRST1"})
    assert refused.status_code == 409 and "has been used up" in refused.get_data(as_text=True)

    amount, ref = _amount_charged(browser, path)
    assert amount == totals["total"]
    _finish(browser, path, ref)
    code = db.scalar(select(DiscountCode))
    db.refresh(code)
    assert code.uses == 1
    assert db.scalar(select(Order)).discount_code == "FIRST1"
    assert verify.check_all(db) == []
    # An order priced with a code whose use was never counted is named by verify.
    db.execute(
        update(DiscountHold).values(
            state=DiscountHoldState.RELEASED, committed_at=None, released_at=func.now()
        )
    )
    db.execute(update(DiscountCode).values(uses=0))
    number = db.scalar(select(Order.number))
    assert (
        f"[discount_uses_match_orders] order {number} was priced with FIRST1 but no use of "
        "it is committed" in verify.check_all(db)
    )


def test_removing_a_code_or_changing_the_cart_gives_its_use_back(browser, db):
    make_code(db, "ONCE", value=500, usage_limit=1)
    tee = _tee(db)
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    browser.post(f"{path}/discount", {"code": "ONCE"})
    assert review_totals(browser.get(path).get_data(as_text=True))["discount"] == 140
    assert browser.post(f"{path}/discount/remove").status_code == 303
    page = browser.get(path).get_data(as_text=True)
    assert review_totals(page)["discount"] is None and review_totals(page)["total"] == 2800
    browser.post(f"{path}/discount", {"code": "ONCE"})
    fill_cart(browser, (tee, 1))  # the cart changes: its checkout and the code's hold end
    states = db.scalars(select(DiscountHold.state)).all()
    assert states == [DiscountHoldState.RELEASED, DiscountHoldState.RELEASED]


def test_bad_codes_are_told_in_place(browser, db):
    make_code(db, "BIG", value=1000, min_spend_cents=10_000)
    fill_cart(browser, (_tee(db), 1))
    path = checkout_path(start_checkout(browser))
    for code, words in (
        ("NOPE", "There is no discount code"),
        ("", "Enter a discount code"),
        ("X" * 41, "at most 40 characters"),
        ("BIG", "needs a subtotal of at least $100.00"),
    ):
        refused = browser.post(f"{path}/discount", {"code": code})
        assert refused.status_code in (404, 409, 422), (code, refused.status_code)
        assert words in refused.get_data(as_text=True)
    assert review_totals(browser.get(path).get_data(as_text=True))["total"] == 2800


def test_a_shipping_price_changed_by_the_owner_is_confirmed_before_it_is_charged(browser, db):
    standard, _express = _us_shop(db)
    fill_cart(browser, (_tee(db), 1))
    path = checkout_path(start_checkout(browser, **US))
    standard.price_cents = 900
    db.commit()
    page = browser.get(path).get_data(as_text=True)
    assert "Prices changed since you started" in page and "Shipping: $5.00 → $9.00" in page
    refused = pay(browser, path)
    assert refused.status_code == 303 and refused.headers["Location"] == path
    assert db.scalar(select(Checkout)).total_cents == 2800 + 500 + 203
    browser.get(path)
    confirmed = browser.post(f"{path}/confirm-prices", {"seen_total_cents": 2800 + 900 + 203})
    assert confirmed.status_code == 303
    amount, _ref = _amount_charged(browser, path)
    assert amount == 2800 + 900 + 203


def test_product_codes_only_discount_their_products(browser, db):
    tee, mug = _tee(db), variant_with_stock(db, 5, price_cents=1500)
    mug_product = db.get(Product, mug.product_id)
    make_code(db, "MUGS", value=500, kind="fixed", currency="USD", product_ids=[mug_product.id])
    fill_cart(browser, (tee, 1), (mug, 1))
    path = checkout_path(start_checkout(browser))
    browser.post(f"{path}/discount", {"code": "MUGS"})
    page = browser.get(path).get_data(as_text=True)
    assert review_totals(page)["discount"] == 500 and review_totals(page)["total"] == 3800
    assert "−$5.00" in page


def _expire_everything(db, path: str) -> None:
    """The clock moved past the checkout's deadline: its stock hold and its code's hold."""
    from datetime import UTC, datetime, timedelta

    from app.models import Reservation

    past = datetime.now(UTC) - timedelta(seconds=1)
    checkout = db.scalar(select(Checkout).where(Checkout.public_id == path.rsplit("/")[-1]))
    db.execute(
        update(Reservation).where(Reservation.hold_ref == checkout.hold_ref).values(expires_at=past)
    )
    db.execute(update(DiscountHold).values(expires_at=past))
    db.execute(update(Checkout).where(Checkout.id == checkout.id).values(expires_at=past))


def test_a_late_payment_whose_code_was_used_up_meanwhile_is_refunded_and_told(app, browser, db):
    make_code(db, "LAST1", value=1000, usage_limit=1)
    tee = _tee(db)
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    browser.post(f"{path}/discount", {"code": "LAST1"})
    ref = approval_ref(pay(browser, path))
    approve(browser, ref)
    _expire_everything(db, path)
    other = Browser(app.test_client())  # the code's one use goes to another shopper
    fill_cart(other, (tee, 1))
    other_path = checkout_path(start_checkout(other, email="grace@example.com"))
    assert other.post(f"{other_path}/discount", {"code": "LAST1"}).status_code == 303

    late = browser.client.get(f"{path}/return")
    assert late.status_code == 409
    page = late.get_data(as_text=True)
    assert "every use of the code LAST1 had been taken meanwhile" in page
    assert "refunded it in full" in page
    assert db.scalar(select(Refund.amount_cents)) == 2520  # $28 − 10 %, no shipping set up
    assert db.scalar(select(DiscountCode.uses)) == 0  # the other shopper's use is still held
    assert verify.check_all(db) == []


def test_extending_the_checkout_keeps_the_code_held_as_long_as_the_stock(browser, db):
    make_code(db, "KEEP", value=1000, usage_limit=5)
    fill_cart(browser, (_tee(db), 1))
    path = checkout_path(start_checkout(browser))
    browser.post(f"{path}/discount", {"code": "KEEP"})
    browser.get(path)
    assert browser.post(f"{path}/extend").status_code == 303
    db.expire_all()
    checkout = db.scalar(select(Checkout))
    hold = db.scalar(select(DiscountHold))
    assert checkout.extensions == 1
    assert hold.state is DiscountHoldState.HELD and hold.expires_at == checkout.expires_at


def test_trying_again_after_the_hold_ended_keeps_the_shipping_choice_and_the_code(browser, db):
    _standard, express = _us_shop(db)
    make_code(db, "AGAIN", value=1000, usage_limit=5)
    fill_cart(browser, (_tee(db), 1))
    path = checkout_path(start_checkout(browser, **US))
    browser.post(f"{path}/shipping", {"rate_id": express.id})
    browser.post(f"{path}/discount", {"code": "AGAIN"})
    _expire_everything(db, path)
    assert "Your hold expired." in browser.get(path).get_data(as_text=True)
    again = browser.post(f"{path}/retry")
    new_path = checkout_path(again)
    assert new_path != path
    page = browser.get(new_path).get_data(as_text=True)
    assert review_totals(page)["shipping"] == 1200 and review_totals(page)["discount"] == 280
    assert "Discount code <strong>AGAIN</strong> applied" in page


def test_sending_the_checkout_form_again_keeps_the_shipping_choice_and_the_code(browser, db):
    _standard, express = _us_shop(db)
    make_code(db, "STAYS", value=1000, once_per_shopper=True)
    fill_cart(browser, (_tee(db), 1))
    path = checkout_path(start_checkout(browser, **US))
    browser.post(f"{path}/shipping", {"rate_id": express.id})
    browser.post(f"{path}/discount", {"code": "STAYS"})
    new_path = checkout_path(start_checkout(browser, **US, phone="+1 555 0100"))
    assert new_path != path
    page = browser.get(new_path).get_data(as_text=True)
    assert review_totals(page)["shipping"] == 1200 and review_totals(page)["discount"] == 280
    # The old checkout's hold on the once-per-shopper code was given back first.
    states = sorted(s.value for s in db.scalars(select(DiscountHold.state)))
    assert states == ["held", "released"]
