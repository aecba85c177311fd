"""Double clicks and crowds on the shopper's actions, with real threads through the app, on
SQLite and Postgres: a double-clicked cancel, pay or refund is one action and both clicks hear
its outcome; many multi-line orders cancelled at once all cancel, refund once and restock
exactly; placing an order again while the owner forces stock away never deadlocks."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from app.models import Order as OrderRow
from app.models import (
    OrderStatus,
    OutboxMessage,
    Payment,
    Refund,
    StockMovement,
    TestpayPayment,
    Variant,
)
from app.providers import get_provider
from app.services.checks import invariants as verify
from app.services.orders import refunds
from tests.checkout_helpers import buy, checkout_path, fill_cart, start_checkout
from tests.conftest import Browser


def twin(app, browser: Browser) -> Browser:
    """A second tab of the same browser: the same cookies, its own connection."""
    other = Browser(app.test_client())
    for cookie in browser.client._cookies.values():
        other.client.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
    return other


def together(*calls):
    """Run the calls at the same instant on threads; their results, in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list = []

    def run(n, call):
        try:
            barrier.wait(timeout=30)
            results[n] = call()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n, c)) for n, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def _two_line_order(app, browser, db, first, second):
    fill_cart(browser, (second, 1))
    return buy(browser, first, 2)


def test_a_double_clicked_cancel_cancels_once_and_both_clicks_hear_so(app, browser, db):
    from tests.factories import variant_with_stock

    tee = variant_with_stock(db, 5, price_cents=2500)
    mug = variant_with_stock(db, 5, price_cents=1200)
    order_url = _two_line_order(app, browser, db, tee, mug)
    browser.get(order_url)
    second = twin(app, browser)
    second.get(order_url)
    answers = together(
        lambda: browser.post(f"{order_url}/cancel"), lambda: second.post(f"{order_url}/cancel")
    )
    assert [a.status_code for a in answers] == [303, 303]
    for who in (browser, second):
        page = who.get(order_url).get_data(as_text=True)
        assert "Your order is cancelled and your payment refunded in full." in page
    db.expire_all()
    order = db.scalar(select(OrderRow))
    assert order.status is OrderStatus.CANCELLED
    payment = db.scalar(select(Payment))
    assert payment.refunded_cents == payment.captured_cents == 6200
    assert db.scalar(select(func.count(Refund.id))) == 1
    provider_row = db.scalar(select(TestpayPayment))
    assert provider_row.refunded_cents == 6200 and len(provider_row.refunds) == 1
    assert db.get(Variant, tee.id).on_hand == 5 and db.get(Variant, mug.id).on_hand == 5
    assert (
        db.scalar(select(func.count(StockMovement.id)).where(StockMovement.reason == "return")) == 2
    )
    assert (
        db.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.template == "refunded"))
        == 1
    )
    assert verify.check_all(db) == []


def test_a_double_clicked_pay_is_one_payment_and_one_approval_page(app, browser, db):
    from tests.factories import variant_with_stock

    tee = variant_with_stock(db, 5)
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    browser.get(path)
    second = twin(app, browser)
    second.get(path)
    answers = together(
        lambda: browser.post(f"{path}/pay", {"payment_provider": "testpay"}),
        lambda: second.post(f"{path}/pay", {"payment_provider": "testpay"}),
    )
    assert [a.status_code for a in answers] == [303, 303]
    assert answers[0].headers["Location"] == answers[1].headers["Location"]
    assert db.scalar(select(func.count(Payment.id))) == 1
    assert db.scalar(select(func.count(TestpayPayment.id))) == 1


def test_a_refund_asked_twice_at_once_with_one_key_refunds_once(app, browser, db):
    from tests.factories import variant_with_stock

    tee = variant_with_stock(db, 5, price_cents=2000)
    buy(browser, tee, 2)
    number = db.scalar(select(OrderRow.number))
    factory = app.extensions["holdfast.db"].session_factory

    def refund():
        session = factory()
        try:
            return refunds.refund_order(
                session,
                lambda n: get_provider(n, app.config),
                number,
                amount_cents=1500,
                reason="damaged",
                idempotency_key="owner-click-1",
            ).id
        finally:
            session.close()

    first, second = together(refund, refund)
    assert first == second
    db.expire_all()
    assert db.scalar(select(Payment.refunded_cents)) == 1500
    assert db.scalar(select(TestpayPayment.refunded_cents)) == 1500
    assert verify.check_all(db) == []


def test_many_multi_line_orders_cancelled_at_once_all_cancel_and_restock_exactly(app, db):
    from tests.factories import variant_with_stock

    tee = variant_with_stock(db, 40, price_cents=2500)
    mug = variant_with_stock(db, 40, price_cents=1200)
    cap = variant_with_stock(db, 40, price_cents=900)
    shoppers = []
    for _ in range(8):
        shopper = Browser(app.test_client())
        fill_cart(shopper, (cap, 1), (mug, 1))  # lines in descending variant order
        url = buy(shopper, tee, 1)
        shopper.get(url)
        shoppers.append((shopper, url))
    answers = together(*[lambda s=s, u=u: s.post(f"{u}/cancel") for s, u in shoppers])
    assert {a.status_code for a in answers} == {303}
    db.expire_all()
    assert {o.status for o in db.scalars(select(OrderRow))} == {OrderStatus.CANCELLED}
    assert [db.get(Variant, v.id).on_hand for v in (tee, mug, cap)] == [40, 40, 40]
    for payment in db.scalars(select(Payment)):
        assert payment.refunded_cents == payment.captured_cents
    assert verify.check_all(db) == []


def test_placing_an_order_again_while_the_owner_forces_stock_away_never_fails(app, db):
    from tests.factories import variant_with_stock

    tee = variant_with_stock(db, 30, sku="TEE-RACE")
    mug = variant_with_stock(db, 30, sku="MUG-RACE")
    shoppers = []
    for _ in range(3):
        shopper = Browser(app.test_client())
        fill_cart(shopper, (mug, 1), (tee, 1))
        checkout_path(start_checkout(shopper))
        shoppers.append(shopper)
    runner = app.test_cli_runner()

    def resubmit(shopper):
        def go():
            statuses = []
            for _ in range(6):
                statuses.append(start_checkout(shopper).status_code)
            return statuses

        return go

    def owner():
        outputs = []
        for n in range(6):
            sku = "TEE-RACE" if n % 2 else "MUG-RACE"
            outputs.append(
                runner.invoke(args=["stock", "adjust", sku, "-1", "--reason", "damaged", "--force"])
            )
        return outputs

    *checkouts, adjustments = together(*(resubmit(s) for s in shoppers), owner)
    assert all(code in (303, 409) for codes in checkouts for code in codes), checkouts
    assert all(r.exit_code == 0 for r in adjustments), [r.output for r in adjustments]
    db.expire_all()
    assert db.get(Variant, tee.id).on_hand == 27 and db.get(Variant, mug.id).on_hand == 27
    assert verify.check_all(db) == []
