"""Completion exactly once: racing reports, lost webhooks, late payments, events out of order."""

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from app.models import Checkout as CheckoutRow
from app.models import (
    CheckoutState,
    OrderStatus,
    Payment,
    Refund,
    StockMovement,
    Variant,
)
from app.models import Order as OrderRow
from app.providers import get_provider
from app.services.checks import invariants as verify
from app.services.stock.inventory import adjust_stock
from tests.checkout_helpers import (
    approval_ref,
    checkout_path,
    fill_cart,
    paid_checkout,
    pay,
    signed_webhook,
    start_checkout,
)
from tests.conftest import Browser
from tests.factories import variant_with_stock


def _orders(db):
    db.expire_all()
    return db.scalars(select(OrderRow)).all()


def _expire(db, path):
    """Move the checkout's hold deadline into the past (the clock moved on)."""
    from app.models import Reservation

    past = datetime.now(UTC) - timedelta(seconds=1)
    checkout = db.scalar(select(CheckoutRow).where(CheckoutRow.public_id == path.rsplit("/")[-1]))
    db.execute(
        Reservation.__table__.update()
        .where(Reservation.hold_ref == checkout.hold_ref)
        .values(expires_at=past)
    )
    db.execute(
        CheckoutRow.__table__.update().where(CheckoutRow.id == checkout.id).values(expires_at=past)
    )


def test_return_and_webhook_racing_make_one_order_and_one_sale(app, db):
    for round_ in range(4):
        variant = variant_with_stock(db, 5, price_cents=1500)
        browser = Browser(app.test_client())
        path, ref = paid_checkout(browser, variant)
        body, headers = signed_webhook(app, ref, 1500, event_id=f"evt_race_{round_}")
        barrier = threading.Barrier(2)
        results = []

        def by_return(client=browser.client, path=path, barrier=barrier, results=results):
            barrier.wait()
            results.append(client.get(f"{path}/return").status_code)

        def by_webhook(body=body, headers=headers, barrier=barrier, results=results):
            barrier.wait()
            results.append(
                app.test_client().post("/webhooks/testpay", data=body, headers=headers).status_code
            )

        threads = [threading.Thread(target=by_return), threading.Thread(target=by_webhook)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(results) in ([200, 303], [200, 200]), results
        db.expire_all()
        assert db.get(Variant, variant.id).on_hand == 4
    orders = _orders(db)
    assert len(orders) == 4
    assert {o.status for o in orders} == {OrderStatus.PAID}
    assert (
        db.scalar(select(func.count(StockMovement.id)).where(StockMovement.reason == "sale")) == 4
    )
    assert verify.check_all(db) == []


def test_a_lost_webhook_is_reconciled_into_an_order(app, browser, db):
    variant = variant_with_stock(db, 5, price_cents=1200)
    path, _ref = paid_checkout(browser, variant)
    assert _orders(db) == []  # the shopper closed the tab; the webhook never came
    result = app.test_cli_runner().invoke(args=["payments", "reconcile", "--older-than", "0"])
    assert result.exit_code == 0, result.output
    assert "1 completed" in result.output
    (order,) = _orders(db)
    assert order.status is OrderStatus.PAID
    rerun = app.test_cli_runner().invoke(args=["payments", "reconcile", "--older-than", "0"])
    assert "checked 0" in rerun.output
    assert len(_orders(db)) == 1


def test_a_late_payment_is_re_reserved_when_stock_allows(app, browser, db):
    variant = variant_with_stock(db, 5, price_cents=1000)
    path, ref = paid_checkout(browser, variant, 2)
    _expire(db, path)
    assert browser.get(path).status_code == 200  # the page records the expiry
    response = browser.client.get(f"{path}/return")
    assert response.status_code == 303
    (order,) = _orders(db)
    assert order.status is OrderStatus.PAID
    db.expire_all()
    assert db.get(Variant, variant.id).on_hand == 3
    assert verify.check_all(db) == []


def test_a_late_payment_for_a_sold_out_back_orderable_item_waits_for_stock(app, browser, db):
    variant = variant_with_stock(db, 2, price_cents=1000, allow_backorder=True)
    path, ref = paid_checkout(browser, variant, 2)
    _expire(db, path)
    adjust_stock(
        db_session := app.extensions["holdfast.db"].session_factory(),
        variant.sku,
        -2,
        reason="damaged in the stockroom",
        actor="owner",
    )
    db_session.close()
    response = browser.client.get(f"{path}/return")
    assert response.status_code == 303
    (order,) = _orders(db)
    assert order.status is OrderStatus.AWAITING_STOCK
    assert "back-order" in browser.get(f"/orders/{order.number}").get_data(as_text=True)
    assert verify.check_all(db) == []


def test_a_late_payment_for_a_sold_out_item_is_refunded_and_the_shopper_told(app, browser, db):
    variant = variant_with_stock(db, 1, price_cents=1000)
    path, ref = paid_checkout(browser, variant, 1)
    _expire(db, path)
    other = Browser(app.test_client())
    fill_cart(other, (variant, 1))
    checkout_path(start_checkout(other))  # someone else holds the last unit now
    response = browser.client.get(f"{path}/return")
    assert response.status_code == 409
    assert "refunded it in full" in response.get_data(as_text=True)
    refund = db.scalar(select(Refund))
    assert refund.amount_cents == 1000 and refund.status.value == "succeeded"
    assert [o.status for o in _orders(db)] == [OrderStatus.CANCELLED]
    checkout = db.scalar(select(CheckoutRow).where(CheckoutRow.public_id == path.rsplit("/")[-1]))
    assert checkout.state is CheckoutState.FAILED and checkout.failure_phase == "stock_commit"
    assert verify.check_all(db) == []


def test_a_refund_event_before_the_capture_event_makes_no_order(app, browser, db):
    variant = variant_with_stock(db, 3, price_cents=1000)
    path, ref = paid_checkout(browser, variant)
    provider = get_provider("testpay", app.config)
    provider.refund(provider.fetch(ref), 1000, "refund-at-provider")
    client = app.test_client()
    body, headers = signed_webhook(app, ref, 1000, "payment.refunded", event_id="evt_r")
    assert client.post("/webhooks/testpay", data=body, headers=headers).status_code == 200
    body, headers = signed_webhook(app, ref, 1000, "payment.captured", event_id="evt_c")
    assert client.post("/webhooks/testpay", data=body, headers=headers).status_code == 200
    assert _orders(db) == []
    assert db.scalar(select(Refund.amount_cents)) == 1000
    payment = db.scalar(select(Payment))
    assert payment.status.value == "refunded"


def test_a_second_captured_payment_for_one_checkout_is_refunded(app, db):
    variant = variant_with_stock(db, 5, price_cents=1000)
    browser = Browser(app.test_client())
    fill_cart(browser, (variant, 1))
    path = checkout_path(start_checkout(browser))
    first = approval_ref(pay(browser, path))
    assert approval_ref(pay(browser, path)) == first  # a second click: the same payment
    # Eleven minutes later the shopper, who left that tab open, pays again in another.
    db.execute(update(Payment).values(created_at=datetime.now(UTC) - timedelta(minutes=11)))
    second = approval_ref(pay(browser, path))
    assert second != first
    for ref in (first, second):
        browser.get(f"/testpay/pay/{ref}")
        browser.post(f"/testpay/pay/{ref}/approve")
    assert browser.client.get(f"{path}/return").status_code == 303  # completes the newest
    body, headers = signed_webhook(app, first, 1000, event_id="evt_dup")
    assert (
        app.test_client().post("/webhooks/testpay", data=body, headers=headers).status_code == 200
    )
    assert len(_orders(db)) == 1
    refunds = db.scalars(select(Refund)).all()
    assert [r.amount_cents for r in refunds] == [1000]
    assert verify.check_all(db) == []


def test_verify_names_a_captured_payment_with_neither_order_nor_refund(app, browser, db):
    variant = variant_with_stock(db, 3, price_cents=1000)
    path, ref = paid_checkout(browser, variant)
    checkout = db.scalar(select(CheckoutRow))
    db.execute(Payment.__table__.update().values(status="captured", captured_cents=1000))
    result = app.test_cli_runner().invoke(args=["holdfast", "verify"])
    assert result.exit_code == 1
    assert f"testpay payment {ref}: 1000 captured, no order, only 0 refunded" in result.output
    assert checkout.state is not None
