"""Paying: testpay's approval page, the return, the webhook, drift, expiry, extension and
failures, each ending as a shopper would expect."""

import re
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.models import Checkout as CheckoutRow
from app.models import (
    CheckoutEvent,
    CheckoutState,
    OrderStatus,
    Payment,
    Refund,
    StockMovement,
    TestpayPayment,
    Variant,
    WebhookEvent,
)
from app.models import Order as OrderRow
from app.services.checks import invariants as verify
from app.services.stock.inventory import availability_of
from tests.checkout_helpers import (
    approval_ref,
    approve,
    checkout_path,
    fill_cart,
    pay,
    signed_webhook,
    start_checkout,
)
from tests.factories import variant_with_stock


def _checkout(db, path):
    db.expire_all()
    return db.scalar(select(CheckoutRow).where(CheckoutRow.public_id == path.rsplit("/", 1)[1]))


def _order(db):
    db.expire_all()
    return db.scalar(select(OrderRow))


def test_paying_with_testpay_creates_the_order_commits_stock_and_empties_the_cart(browser, db):
    tee = variant_with_stock(db, 5, product__name="Harbor Tee", price_cents=2800)
    fill_cart(browser, (tee, 2))
    path = checkout_path(start_checkout(browser))
    ref = approval_ref(pay(browser, path))
    page = browser.get(f"/testpay/pay/{ref}").get_data(as_text=True)
    assert 'data-amount="5600"' in page and 'data-currency="USD"' in page
    assert "Approve payment" in page and "Decline payment" in page

    back = approve(browser, ref)
    assert back.status_code == 303 and back.headers["Location"].endswith(f"{path}/return")
    landed = browser.client.get(back.headers["Location"])
    assert landed.status_code == 303
    order = _order(db)
    assert landed.headers["Location"] == f"/orders/{order.number}"
    html = browser.get(f"/orders/{order.number}").get_data(as_text=True)
    assert "Your payment was received" in html
    assert order.status is OrderStatus.PAID and order.total_cents == 5600
    db.expire_all()
    assert db.get(Variant, tee.id).on_hand == 3
    sale = db.scalar(select(StockMovement).where(StockMovement.reason == "sale"))
    assert sale.delta == -2
    assert 'data-count="0"' in browser.get("/cart").get_data(as_text=True)
    assert _checkout(db, path).state is CheckoutState.COMPLETED
    assert verify.check_all(db) == []


def test_the_webhook_alone_completes_the_order_and_the_return_then_finds_it(app, browser, db):
    tee = variant_with_stock(db, 5, price_cents=1000)
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    ref = approval_ref(pay(browser, path))
    approve(browser, ref)
    body, headers = signed_webhook(app, ref, 1000, event_id="evt_first")
    for _ in range(10):  # the provider retries; ten deliveries make one order
        assert (
            app.test_client().post("/webhooks/testpay", data=body, headers=headers).status_code
            == 200
        )
    order = _order(db)
    assert order.status is OrderStatus.PAID
    assert len(db.scalars(select(WebhookEvent)).all()) == 1
    assert len(db.scalars(select(OrderRow)).all()) == 1
    landed = browser.client.get(f"{path}/return")
    assert landed.headers["Location"] == f"/orders/{order.number}"
    db.expire_all()
    assert db.get(Variant, tee.id).on_hand == 4


def test_forged_stale_and_missing_signatures_answer_400_and_change_nothing(app, browser, db):
    tee = variant_with_stock(db, 5, price_cents=1000)
    fill_cart(browser, (tee, 1))
    ref = approval_ref(pay(browser, checkout_path(start_checkout(browser))))
    approve(browser, ref)
    client = app.test_client()
    body, headers = signed_webhook(app, ref, 1000)
    forged = {**headers, "Testpay-Signature": headers["Testpay-Signature"][:-4] + "abcd"}
    _, stale = signed_webhook(app, ref, 1000, timestamp=int(time.time()) - 301)
    for h in (
        forged,
        stale,
        {"Content-Type": "application/json"},
        {"Testpay-Signature": "garbage"},
    ):
        response = client.post("/webhooks/testpay", data=body, headers=h)
        assert response.status_code == 400
    assert db.scalars(select(WebhookEvent)).all() == []
    assert _order(db) is None


def test_a_declined_payment_leaves_the_hold_and_lets_the_shopper_pay_again(browser, db):
    tee = variant_with_stock(db, 5, price_cents=1000)
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    ref = approval_ref(pay(browser, path))
    browser.get(f"/testpay/pay/{ref}")
    assert browser.post(f"/testpay/pay/{ref}/decline").headers["Location"].endswith(path)
    response = browser.client.get(f"{path}/return")
    assert response.status_code == 409
    assert "declined" in response.get_data(as_text=True)
    assert _checkout(db, path).state is CheckoutState.RESERVED
    assert availability_of(db, tee.id).available == 4
    ref2 = approval_ref(pay(browser, path))
    assert ref2 != ref
    approve(browser, ref2)
    assert browser.client.get(f"{path}/return").status_code == 303
    assert _order(db).status is OrderStatus.PAID


def test_price_drift_within_tolerance_keeps_the_snapshot_price(app, browser, db):
    tee = variant_with_stock(db, 5, price_cents=10000)
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    db.execute(Variant.__table__.update().where(Variant.id == tee.id).values(price_cents=10050))
    ref = approval_ref(pay(browser, path))
    assert db.scalar(select(TestpayPayment.amount_cents).where(TestpayPayment.ref == ref)) == 10000
    assert (
        db.scalar(select(CheckoutEvent.message).where(CheckoutEvent.kind == "price_drift"))
        == "within tolerance; the snapshot stands"
    )


def test_price_drift_beyond_tolerance_asks_the_shopper_to_confirm_the_new_total(browser, db):
    tee = variant_with_stock(db, 5, price_cents=10000)
    fill_cart(browser, (tee, 2))
    path = checkout_path(start_checkout(browser))
    db.execute(Variant.__table__.update().where(Variant.id == tee.id).values(price_cents=11000))
    refused = pay(browser, path)
    assert refused.headers["Location"] == path
    html = browser.get(path).get_data(as_text=True)
    assert "$200.00" in html and "$220.00" in html and "Confirm the new total" in html
    assert "Pay $" not in html
    token = browser.token()
    confirmed = browser.client.post(
        f"{path}/confirm-prices", data={"csrf_token": token, "seen_total_cents": 22000}
    )
    assert confirmed.status_code == 303
    ref = approval_ref(pay(browser, path))
    assert db.scalar(select(TestpayPayment.amount_cents).where(TestpayPayment.ref == ref)) == 22000


def test_an_expired_hold_frees_the_stock_and_offers_a_retry(app, browser, db):
    app.config["HOLD_TTL_MINUTES"] = 0.04  # 2.4 seconds: the whole expiry path, for real
    tee = variant_with_stock(db, 3)
    fill_cart(browser, (tee, 2))
    path = checkout_path(start_checkout(browser))
    assert availability_of(db, tee.id).available == 1
    time.sleep(2.6)
    assert availability_of(db, tee.id).available == 3  # before any sweep
    html = browser.get(path).get_data(as_text=True)
    assert "Your hold expired." in html and "Try again" in html
    assert _checkout(db, path).state is CheckoutState.EXPIRED
    assert pay(browser, path).status_code == 409
    app.config["HOLD_TTL_MINUTES"] = 15
    retried = browser.post(f"{path}/retry")
    new_path = checkout_path(retried)
    assert new_path != path
    assert availability_of(db, tee.id).available == 1


def test_a_hold_that_runs_out_on_an_open_page_takes_its_pay_buttons_with_it(app, browser, db):
    app.config["HOLD_TTL_MINUTES"] = 0.02  # 1.2 seconds
    tee = variant_with_stock(db, 3)
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    app.config["HOLD_TTL_MINUTES"] = 15
    assert "Pay $" in browser.get(path).get_data(as_text=True)
    poll = browser.get(f"{path}/countdown", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-swap-oob" not in poll  # while the hold lasts, the Pay buttons stay
    time.sleep(1.4)
    # The countdown's next poll: the expiry in place, and (out of band) no Pay button left.
    poll = browser.get(f"{path}/countdown", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Your hold expired." in poll and "Try again" in poll
    assert re.search(r'<div id="pay-options" hx-swap-oob="true">\s*</div>', poll)


def test_the_countdown_fragment_tells_the_server_deadline(browser, db):
    tee = variant_with_stock(db, 3)
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    fragment = browser.get(f"{path}/countdown", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert "<html" not in body
    expires = re.search(r'data-expires-at="([^"]+)"', body).group(1)
    deadline = datetime.fromisoformat(expires)
    assert timedelta(minutes=14) < deadline - datetime.now(UTC) <= timedelta(minutes=15)


def test_the_hold_can_be_extended_once_and_never_past_the_maximum(app, browser, db):
    app.config["HOLD_TTL_MINUTES"] = 10
    app.config["HOLD_MAX_TTL_MINUTES"] = 15
    tee = variant_with_stock(db, 3)
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    before = _checkout(db, path).expires_at
    response = browser.post(f"{path}/extend", htmx=True)
    assert response.status_code == 200 and "Hold extended." in response.get_data(as_text=True)
    after = _checkout(db, path)
    assert after.expires_at > before
    assert after.expires_at <= after.hold_started_at + timedelta(minutes=15)
    again = browser.post(f"{path}/extend", htmx=True)
    assert again.status_code == 409
    assert "already extended" in again.get_data(as_text=True)


def test_a_captured_amount_that_differs_from_the_total_is_refunded_not_an_order(app, browser, db):
    tee = variant_with_stock(db, 3, price_cents=1000)
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    ref = approval_ref(pay(browser, path))
    db.execute(
        TestpayPayment.__table__.update().where(TestpayPayment.ref == ref).values(amount_cents=900)
    )
    approve(browser, ref)
    response = browser.client.get(f"{path}/return")
    assert response.status_code == 409
    assert "refunded your payment" in response.get_data(as_text=True)
    order = _order(db)
    assert order.status is OrderStatus.CANCELLED
    refund = db.scalar(select(Refund))
    assert refund.amount_cents == 900 and refund.status.value == "succeeded"
    assert _checkout(db, path).failure_phase == "payment_capture"
    assert availability_of(db, tee.id).available == 3


def test_a_provider_outage_at_payment_undoes_the_hold_and_records_why(app, browser, db):
    from app.providers.testpay import TestpayProvider

    tee = variant_with_stock(db, 3)
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    original = TestpayProvider.create

    def outage(self, request):
        from app.providers import ProviderError

        raise ProviderError("connection refused", retryable=True)

    TestpayProvider.create = outage
    try:
        response = pay(browser, path)
    finally:
        TestpayProvider.create = original
    assert response.status_code == 502
    assert "Nothing was charged" in response.get_data(as_text=True)
    checkout = _checkout(db, path)
    assert checkout.state is CheckoutState.FAILED
    assert checkout.failure_phase == "payment_authorization"
    kinds = [
        (e.kind, e.phase)
        for e in db.scalars(
            select(CheckoutEvent)
            .where(CheckoutEvent.checkout_id == checkout.id)
            .order_by(CheckoutEvent.id)
        )
    ]
    assert ("failure", "payment_authorization") in kinds
    assert ("rollback", "inventory_reservation") in kinds
    assert availability_of(db, tee.id).available == 3
    assert 'data-count="1"' in browser.get("/cart").get_data(as_text=True)


def test_only_offered_providers_can_be_chosen(browser, db):
    tee = variant_with_stock(db, 3)
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    response = pay(browser, path, provider="bitcoin")
    assert response.status_code == 422
    assert db.scalars(select(Payment)).all() == []
