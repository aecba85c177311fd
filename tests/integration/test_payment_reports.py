"""What the shopper hears when a payment report comes late, twice, or out of order, and what
happens to the stock it held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.models import Checkout as CheckoutRow
from app.models import CheckoutState, Reservation
from app.providers import get_provider
from app.services.checks import invariants as verify
from app.services.stock import inventory
from tests.checkout_helpers import checkout_path, fill_cart, paid_checkout, signed_webhook
from tests.checkout_helpers import start_checkout as start
from tests.conftest import Browser
from tests.factories import variant_with_stock


def _checkout(db, path):
    db.expire_all()
    return db.scalar(select(CheckoutRow).where(CheckoutRow.public_id == path.rsplit("/")[-1]))


def _expire(db, path):
    past = datetime.now(UTC) - timedelta(seconds=1)
    checkout = _checkout(db, path)
    db.execute(
        Reservation.__table__.update()
        .where(Reservation.hold_ref == checkout.hold_ref)
        .values(expires_at=past)
    )
    db.execute(
        CheckoutRow.__table__.update().where(CheckoutRow.id == checkout.id).values(expires_at=past)
    )


def test_the_second_report_of_a_refunded_late_payment_says_refunded_not_confirmed(app, browser, db):
    variant = variant_with_stock(db, 1, price_cents=1000)
    path, ref = paid_checkout(browser, variant, 1)
    _expire(db, path)
    other = Browser(app.test_client())
    fill_cart(other, (variant, 1))
    checkout_path(start(other))  # someone else holds the last unit now
    body, headers = signed_webhook(app, ref, 1000, event_id="evt_late")
    assert (
        app.test_client().post("/webhooks/testpay", data=body, headers=headers).status_code == 200
    )
    response = browser.client.get(f"{path}/return")  # the second report: the shopper's return
    page = response.get_data(as_text=True)
    assert response.status_code == 409, response.headers.get("Location")
    assert "Your payment was refunded" in page and "confirmed" not in page
    status = browser.client.get(f"{path}/status").get_data(as_text=True)
    assert "refunded" in status.lower() and "confirmed" not in status
    assert verify.check_all(db) == []


def test_a_refund_reported_before_the_capture_ends_the_checkout_and_frees_its_stock(
    app, browser, db
):
    variant = variant_with_stock(db, 3, price_cents=1000)
    path, ref = paid_checkout(browser, variant, 2)
    provider = get_provider("testpay", app.config)
    provider.refund(provider.fetch(ref), 1000 * 2, "refund-at-provider")
    body, headers = signed_webhook(app, ref, 2000, "payment.refunded", event_id="evt_r")
    assert (
        app.test_client().post("/webhooks/testpay", data=body, headers=headers).status_code == 200
    )
    checkout = _checkout(db, path)
    assert checkout.state is CheckoutState.FAILED
    assert inventory.availability_of(db, variant.id).available == 3
    page = browser.client.get(f"{path}/return").get_data(as_text=True)
    assert "refunded" in page.lower() and "confirmed" not in page
    assert verify.check_all(db) == []
