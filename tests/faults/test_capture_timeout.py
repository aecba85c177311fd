"""A provider that times out on capture — having captured — and reports success later.

The shopper comes back from PayPal (its fake on 127.0.0.1); our capture is done at PayPal but
its answer is lost (a 504). The shopper sees "Confirming your payment…", not an error, and
nothing is sold twice; no webhook comes. Reconciliation, a few minutes on, asks PayPal, finds
the capture and finishes the order; the shopper's status page then shows it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import select

from app.models import Order, OrderStatus, Payment
from app.providers import get_provider
from app.services.checks import invariants as verify
from app.services.orders.order_book import OrderLinks
from app.services.payments import reconcile
from tests.checkout_helpers import checkout_path, fill_cart, pay, start_checkout
from tests.conftest import Browser, make_test_app
from tests.factories import variant_with_stock
from tests.fakes import FakePayPal


def test_a_capture_that_timed_out_after_it_happened_is_finished_by_reconciliation(database_url, db):
    fake = FakePayPal()
    app = make_test_app(database_url, PAYMENT_PROVIDERS=["testpay", "paypal"], **fake.settings)
    try:
        tee = variant_with_stock(db, 3, price_cents=4000)
        browser = Browser(app.test_client())
        fill_cart(browser, (tee, 1))
        path = checkout_path(start_checkout(browser))
        assert pay(browser, path, provider="paypal").status_code == 303
        ref = db.scalar(select(Payment.provider_ref))
        params = fake.approve(ref)
        fake.lose_next_answer()  # the capture: done at PayPal, the answer never arrives
        landed = browser.client.get(f"{path}/return?{urlencode(params)}")
        page = landed.get_data(as_text=True)
        assert landed.status_code == 200 and "Confirming your payment" in page
        assert fake.orders[ref]["status"] == "COMPLETED"  # PayPal has the money
        assert db.scalar(select(Order.status)) is OrderStatus.PENDING_PAYMENT
        assert "Confirming" in browser.client.get(f"{path}/status").get_data(as_text=True)

        session = app.extensions["holdfast.db"].session_factory()
        try:
            report = reconcile.reconcile(
                session,
                lambda name: get_provider(name, app.config),
                timedelta(minutes=10),
                links=OrderLinks.from_config(app.config),
                now=datetime.now(UTC) + timedelta(minutes=5),
            )
        finally:
            session.close()
        assert report.completed == 1 and report.errors == 0
        db.expire_all()
        assert db.scalar(select(Order.status)) is OrderStatus.PAID
        captures = [c for c in fake.calls if c.endswith("/capture")]
        assert (
            len(captures) >= 1
            and len(fake.orders[ref]["purchase_units"][0]["payments"]["captures"]) == 1
        )
        status = browser.client.get(f"{path}/status")
        assert status.status_code == 303 and "/orders/" in status.headers["Location"]
        assert verify.check_all(db) == []
    finally:
        fake.stop()
        app.extensions["holdfast.db"].dispose()
