"""Each broken promise the faults issue found, planted in the rows as a crash or a lost message
would leave it: ``flask holdfast verify`` names it, and reconciliation repairs what can be
repaired (what it cannot, verify keeps naming for the owner)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from app.models import (
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    Variant,
    WebhookEvent,
    WebhookState,
)
from app.providers import get_provider
from app.providers.base import PaymentState
from app.services.checks import invariants as verify
from app.services.orders import refunds
from app.services.orders.order_book import OrderLinks
from app.services.payments import authorize as payments
from app.services.payments import reconcile
from tests.checkout_helpers import buy, paid_checkout, signed_webhook
from tests.factories import variant_with_stock

LATER = timedelta(minutes=20)


def _providers(app):
    return lambda name: get_provider(name, app.config)


def _session(app):
    return app.extensions["holdfast.db"].session_factory()


def _verify(app, now=None):
    session = _session(app)
    try:
        return verify.check_all(
            session, now=now or datetime.now(UTC) + LATER, providers=_providers(app)
        )
    finally:
        session.close()


def _reconcile(app, now=None):
    session = _session(app)
    try:
        return reconcile.reconcile(
            session,
            _providers(app),
            timedelta(minutes=10),
            links=OrderLinks.from_config(app.config),
            now=now or datetime.now(UTC) + LATER,
        )
    finally:
        session.close()


def _named(violations, check):
    prefix = f"[{check}] "
    return [v[len(prefix) :] for v in violations if v.startswith(prefix)]


def test_a_refund_made_but_never_recorded_on_its_order_is_named_then_finished(app, browser, db):
    tee = variant_with_stock(db, 5, price_cents=2500)
    buy(browser, tee, 2)
    order = db.scalar(select(Order))
    payment = db.scalar(select(Payment))
    session = _session(app)
    state = PaymentState(
        payment.provider_ref,
        payment.status,
        payment.amount_cents,
        "USD",
        payment.captured_cents,
        0,
        payment.capture_ref,
    )
    # The shopper's cancel refunded the money, then the process died before the order knew.
    refunds.refund_through_provider(
        session,
        get_provider("testpay", app.config),
        payment.id,
        state,
        5000,
        f"cancel-{order.id}",
        "cancelled by the shopper",
        order_id=order.id,
    )
    session.close()
    found = _verify(app)
    assert _named(found, "refunds_reach_their_orders") == [
        f"refund 1 (5000) succeeded but order {order.number} never recorded it",
        f"order {order.number} is paid but its payment was refunded in full (5000)",
    ]
    report = _reconcile(app)
    assert report.refunds_applied == 1
    db.expire_all()
    assert db.get(Order, order.id).status is OrderStatus.CANCELLED
    assert db.get(Variant, tee.id).on_hand == 5
    assert _verify(app) == []


def test_more_refunded_than_captured_is_named_and_left_for_the_owner(app, browser, db):
    tee = variant_with_stock(db, 5, price_cents=2500)
    buy(browser, tee, 1)
    db.execute(update(Payment).values(refunded_cents=3000))
    found = _named(_verify(app), "refunds_within_capture")
    assert len(found) == 1 and "captured 2500, counts 3000 refunded" in found[0]
    _reconcile(app)
    assert _named(_verify(app), "refunds_within_capture") == found


def test_a_cancelled_order_whose_units_never_came_back_is_named(app, browser, db):
    tee = variant_with_stock(db, 5, price_cents=2500)
    buy(browser, tee, 2)
    order = db.scalar(select(Order))
    db.execute(update(Order).values(status=OrderStatus.CANCELLED))  # no restock, no refund
    found = _named(_verify(app), "cancelled_orders_are_restocked")
    assert found == [
        f"order {order.number} is cancelled but variant {tee.id}: 2 taken from stock, 0 put back"
    ]


def test_money_the_provider_took_without_our_knowing_is_named_then_made_an_order(app, browser, db):
    tee = variant_with_stock(db, 5, price_cents=2500)
    _path, ref = paid_checkout(browser, tee, 1)  # approved at testpay; nothing reported it
    assert db.scalar(select(Payment.status)) is PaymentStatus.PENDING
    found = _named(_verify(app), "provider_captures_have_orders")
    assert found == [f"testpay payment {ref}: the provider captured 2500 (refunded 0) but no order"]
    report = _reconcile(app)
    assert report.completed == 1
    assert db.scalar(select(Order.status)) is OrderStatus.PAID
    assert _verify(app, datetime.now(UTC) + LATER * 2) == []


def test_a_payment_our_table_calls_failed_but_the_provider_captured_is_recovered(app, browser, db):
    tee = variant_with_stock(db, 5, price_cents=2500)
    _path, ref = paid_checkout(browser, tee, 1)
    # A capture that timed out was written down as failed; the provider took the money.
    db.execute(update(Payment).values(status=PaymentStatus.FAILED))
    assert _named(_verify(app), "provider_captures_have_orders")
    assert _reconcile(app).completed == 1
    assert db.scalar(select(Order.status)) is OrderStatus.PAID
    assert _verify(app, datetime.now(UTC) + LATER * 2) == []


def test_a_webhook_left_received_is_named_then_processed(app, browser, db):
    tee = variant_with_stock(db, 5, price_cents=2500)
    _path, ref = paid_checkout(browser, tee, 1)
    body, headers = signed_webhook(app, ref, 2500, event_id="evt_lost_job")
    session = _session(app)
    event, new = payments.receive_webhook(
        session, get_provider("testpay", app.config), headers, body
    )  # stored; its job was lost
    session.close()
    assert new
    found = _named(_verify(app), "webhooks_are_processed")
    assert len(found) == 1 and "webhook evt_lost_job is still received" in found[0]
    report = _reconcile(app)
    assert report.webhooks == 1
    assert db.scalar(select(WebhookEvent.state)) is WebhookState.PROCESSED
    assert db.scalar(select(Order.status)) is OrderStatus.PAID
    assert _verify(app, datetime.now(UTC) + LATER * 2) == []


def test_a_refund_that_failed_at_the_provider_for_money_without_an_order_is_asked_again(
    app, browser, db, monkeypatch
):
    from app.providers.base import ProviderError
    from app.providers.testpay import TestpayProvider
    from tests.checkout_helpers import checkout_path, fill_cart, start_checkout
    from tests.conftest import Browser

    tee = variant_with_stock(db, 1, price_cents=2500)
    path, ref = paid_checkout(browser, tee, 1)
    past = datetime.now(UTC) - timedelta(seconds=1)  # the hold ran out before the payment came
    from app.models import Checkout, Reservation

    db.execute(update(Reservation).values(expires_at=past))
    db.execute(update(Checkout).values(expires_at=past))
    other = Browser(app.test_client())
    fill_cart(other, (tee, 1))
    checkout_path(start_checkout(other))  # and someone else holds the last unit now
    refund = TestpayProvider.refund

    def refusing(self, *args):
        raise ProviderError("testpay: try later", retryable=True)

    monkeypatch.setattr(TestpayProvider, "refund", refusing)
    browser.client.get(f"{path}/return")  # late and sold out: refunded... but it failed
    monkeypatch.setattr(TestpayProvider, "refund", refund)
    assert db.scalar(select(Refund.status)).value == "failed"
    assert db.scalar(select(Order.status)) is OrderStatus.CANCELLED
    found = _verify(app)
    assert _named(found, "captured_payments_have_an_order_or_a_refund")
    assert _named(found, "provider_captures_have_orders")
    report = _reconcile(app)
    assert report.refunds_retried == 1 and report.refunds_applied == 1
    db.expire_all()
    assert db.scalar(select(Refund.status)).value == "succeeded"
    assert get_provider("testpay", app.config).fetch(ref).refunded_cents == 2500
    assert db.scalar(select(Payment.refunded_cents)) == 2500
    assert _verify(app) == []
