"""Webhooks as providers really send them: ten at once, out of order, again days later.
One order, one confirmation, one sale, whatever arrives and however often."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from app.models import (
    Order,
    OrderStatus,
    OutboxMessage,
    Payment,
    StockMovement,
    WebhookEvent,
)
from app.services.checks import invariants as verify
from tests.checkout_helpers import paid_checkout, signed_webhook
from tests.conftest import Browser
from tests.factories import variant_with_stock


def _post_together(app, deliveries):
    barrier = threading.Barrier(len(deliveries))
    answers = []
    lock = threading.Lock()

    def send(body, headers):
        client = app.test_client()
        barrier.wait(timeout=30)
        response = client.post("/webhooks/testpay", data=body, headers=headers)
        with lock:
            answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=send, args=d) for d in deliveries]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return answers


def _one_order_one_email_one_sale(db) -> None:
    db.expire_all()
    assert [o.status for o in db.scalars(select(Order))] == [OrderStatus.PAID]
    assert (
        db.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.template == "order_confirmed")
        )
        == 1
    )
    assert (
        db.scalar(select(func.count(StockMovement.id)).where(StockMovement.reason == "sale")) == 1
    )
    assert verify.check_all(db) == []


def test_one_webhook_delivered_ten_times_at_once_makes_one_order(app, db):
    tee = variant_with_stock(db, 5, price_cents=1500)
    _path, ref = paid_checkout(Browser(app.test_client()), tee)
    body, headers = signed_webhook(app, ref, 1500, event_id="evt_storm")
    answers = _post_together(app, [(body, headers)] * 10)
    assert [code for code, _ in answers] == [200] * 10
    assert sorted(a["status"] for _, a in answers) == ["duplicate"] * 9 + ["received"]
    assert db.scalar(select(func.count(WebhookEvent.id))) == 1
    _one_order_one_email_one_sale(db)


def test_ten_different_events_for_one_payment_make_one_order(app, db):
    tee = variant_with_stock(db, 5, price_cents=1500)
    _path, ref = paid_checkout(Browser(app.test_client()), tee)
    deliveries = [signed_webhook(app, ref, 1500, event_id=f"evt_{n}") for n in range(10)]
    answers = _post_together(app, deliveries)
    assert [code for code, _ in answers] == [200] * 10
    _one_order_one_email_one_sale(db)
    assert db.scalar(select(func.count(WebhookEvent.id))) == 10


def test_events_out_of_order_follow_the_providers_truth(app, browser, db):
    tee = variant_with_stock(db, 5, price_cents=1500)
    _path, ref = paid_checkout(browser, tee)
    client = app.test_client()
    # "failed" arrives after the money was taken (a stale event): the provider says captured.
    for event_id, kind in (
        ("evt_f", "payment.failed"),
        ("evt_c", "payment.captured"),
        ("evt_f2", "payment.failed"),
    ):
        body, headers = signed_webhook(app, ref, 1500, kind, event_id=event_id)
        assert client.post("/webhooks/testpay", data=body, headers=headers).status_code == 200
    _one_order_one_email_one_sale(db)
    assert db.scalar(select(Payment.status)).value == "captured"


def test_a_replay_days_later_changes_nothing(app, browser, db):
    tee = variant_with_stock(db, 5, price_cents=1500)
    _path, ref = paid_checkout(browser, tee)
    client = app.test_client()
    body, headers = signed_webhook(app, ref, 1500, event_id="evt_once")
    assert client.post("/webhooks/testpay", data=body, headers=headers).status_code == 200
    # The same bytes, captured and sent again three days later: the signature is too old.
    three_days_ago = int(time.time()) - 3 * 86400
    stale_body, stale_headers = signed_webhook(
        app, ref, 1500, event_id="evt_once", timestamp=three_days_ago
    )
    replay = client.post("/webhooks/testpay", data=stale_body, headers=stale_headers)
    assert replay.status_code == 400
    # The provider itself resending it, freshly signed: acknowledged as a duplicate.
    again = client.post("/webhooks/testpay", data=body, headers=headers)
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    # And a new event for the same, long-finished payment: processed, and nothing moves.
    body, headers = signed_webhook(app, ref, 1500, event_id="evt_late_resend")
    assert client.post("/webhooks/testpay", data=body, headers=headers).status_code == 200
    _one_order_one_email_one_sale(db)


def test_a_stored_webhook_is_answered_2xx_even_when_processing_fails_and_done_later(
    app, browser, db, monkeypatch
):
    from datetime import UTC, datetime, timedelta

    from app.models import WebhookState
    from app.providers import get_provider
    from app.services.orders.order_book import OrderLinks
    from app.services.payments import authorize as payments
    from app.services.payments import reconcile
    from app.services.transactions import TransientDatabaseError

    tee = variant_with_stock(db, 5, price_cents=1500)
    _path, ref = paid_checkout(browser, tee)

    def busy(*args, **kwargs):
        raise TransientDatabaseError("lock_timeout")

    monkeypatch.setattr(payments, "process_webhook", busy)
    body, headers = signed_webhook(app, ref, 1500, event_id="evt_busy")
    answer = app.test_client().post("/webhooks/testpay", data=body, headers=headers)
    assert answer.status_code == 200 and answer.get_json()["status"] == "received"
    assert db.scalar(select(WebhookEvent.state)) is WebhookState.RECEIVED
    monkeypatch.undo()
    session = app.extensions["holdfast.db"].session_factory()
    try:
        reconcile.reconcile(
            session,
            lambda name: get_provider(name, app.config),
            timedelta(minutes=10),
            links=OrderLinks.from_config(app.config),
            now=datetime.now(UTC) + timedelta(minutes=3),
        )
    finally:
        session.close()
    db.expire_all()
    assert db.scalar(select(WebhookEvent.state)) is WebhookState.PROCESSED
    _one_order_one_email_one_sale(db)
