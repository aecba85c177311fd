"""The owner's emails, from the one periodic job (``flask admin notices`` here): a new order,
a variant fallen to its low-stock threshold, webhooks and emails that failed for good, and
yesterday's summary, to every active owner; each sent once however often the job runs, each
switchable in the settings, and nothing at all when nothing happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.jobs import owner_notices, register_schedule
from app.models import OutboxMessage, OutboxState, Role, WebhookEvent, WebhookState
from app.services.admin import notices
from app.services.admin.settings import set_setting
from app.services.stock import inventory
from tests.checkout_helpers import buy
from tests.factories import UserFactory, variant_with_stock

KINDS = ("owner_new_order", "owner_low_stock", "owner_failures", "owner_daily_summary")


@pytest.fixture
def owners(db):
    """Two active owners, a deactivated owner and a member of staff (who get nothing)."""
    UserFactory(email="boss@example.com", role=Role.OWNER)
    UserFactory(email="partner@example.com", role=Role.OWNER)
    UserFactory(email="gone@example.com", role=Role.OWNER, active=False)
    UserFactory(email="staff@example.com", role=Role.STAFF)


@pytest.fixture
def session(app):
    s = app.extensions["holdfast.db"].session_factory()
    yield s
    s.close()


def run(app) -> str:
    result = app.test_cli_runner().invoke(args=["admin", "notices"])
    assert result.exit_code == 0, result.output
    return result.output


def owner_mail(db, kind: str | None = None) -> list[OutboxMessage]:
    db.expire_all()
    kinds = (kind,) if kind else KINDS
    stmt = select(OutboxMessage).where(OutboxMessage.template.in_(kinds))
    return list(db.scalars(stmt.order_by(OutboxMessage.id)))


def recipients(messages) -> list[str]:
    return sorted(m.to_address for m in messages)


def test_nothing_happened_nothing_is_sent(app, db, owners):
    variant_with_stock(db, 50)
    assert "queued: 0 new-order, 0 low-stock, 0 failure, 0 daily-summary" in run(app)
    run(app)
    assert owner_mail(db) == []


def test_a_new_order_is_told_to_each_active_owner_once(app, db, owners, browser):
    tee = variant_with_stock(db, 50, price_cents=2000)
    buy(browser, tee, 2, email="buyer@example.com")
    assert "2 new-order" in run(app)
    assert "0 new-order" in run(app)
    told = owner_mail(db, "owner_new_order")
    assert recipients(told) == ["boss@example.com", "partner@example.com"]
    assert told[0].subject.startswith("New order HF") and "$40.00" in told[0].subject
    assert "/admin/orders/HF" in told[0].context["order_link"]


def test_a_variant_falling_to_its_threshold_is_told_once_per_fall(app, db, owners, session):
    tee = variant_with_stock(db, 3, sku="TEE-LOW")  # threshold 5
    variant_with_stock(db, 50, sku="TEE-PLENTY")
    run(app)
    run(app)
    told = owner_mail(db, "owner_low_stock")
    assert recipients(told) == ["boss@example.com", "partner@example.com"]
    assert [v["sku"] for v in told[0].context["variants"]] == ["TEE-LOW"]
    assert told[0].context["variants"][0]["available"] == 3

    inventory.receive_stock(session, tee.id, 10, reference="restock")
    run(app)  # 13 on hand: not low
    assert len(owner_mail(db, "owner_low_stock")) == 2
    inventory.adjust_stock(session, tee.id, -9, reason="damaged in the flood", actor="t")
    run(app)
    run(app)
    again = owner_mail(db, "owner_low_stock")
    assert len(again) == 4 and again[-1].context["variants"][0]["available"] == 4


def failed_webhook(db, n: int) -> WebhookEvent:
    row = WebhookEvent(
        provider="testpay",
        event_id=f"ev_{n}",
        kind="payment.captured",
        state=WebhookState.FAILED,
        error="no such payment",
        payload={},
    )
    db.add(row)
    db.commit()
    return row


def failed_email(db) -> OutboxMessage:
    row = OutboxMessage(
        dedupe_key="shipped:1:x",
        template="shipped",
        to_address="buyer@example.com",
        subject="Order shipped",
        context={},
        state=OutboxState.FAILED,
        attempts=8,
        last_error="550 mailbox unavailable",
    )
    db.add(row)
    db.commit()
    return row


def test_failures_are_told_once_and_only_the_new_ones_later(app, db, owners):
    hook, mail = failed_webhook(db, 1), failed_email(db)
    run(app)
    run(app)
    told = owner_mail(db, "owner_failures")
    assert recipients(told) == ["boss@example.com", "partner@example.com"]
    assert told[0].context["refs"] == sorted([f"webhook:{hook.id}", f"email:{mail.id}"])
    later = failed_webhook(db, 2)
    run(app)
    run(app)
    told = owner_mail(db, "owner_failures")
    assert len(told) == 4 and told[-1].context["refs"] == [f"webhook:{later.id}"]


def test_the_daily_summary_tells_yesterday_once(app, db, owners, browser, session):
    tee = variant_with_stock(db, 50, price_cents=2000)
    buy(browser, tee, 2, email="buyer@example.com")
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    for _ in range(2):
        report = notices.send_owner_notices(session, base_url="https://s.example", now=tomorrow)
    assert report.daily_summary == 0
    told = owner_mail(db, "owner_daily_summary")
    assert recipients(told) == ["boss@example.com", "partner@example.com"]
    summary = told[0].context
    assert (summary["orders"], summary["revenue"], summary["refund_count"]) == (1, "$40.00", 0)
    assert told[0].subject == f"Your shop on {summary['day']}: 1 order, $40.00"
    # Today's run says nothing of today: the summary is for a day that is over.
    run(app)
    assert len(owner_mail(db, "owner_daily_summary")) == 2


def test_each_switch_turns_its_emails_off(app, db, owners, browser, session):
    for key in ("notify_new_order", "notify_low_stock", "notify_failures", "daily_summary"):
        set_setting(session, key, False, actor="boss@example.com")
    tee = variant_with_stock(db, 8, price_cents=2000)
    buy(browser, tee, 4, email="buyer@example.com")  # 4 left: low
    failed_webhook(db, 1)
    run(app)
    notices.send_owner_notices(
        session, base_url="https://s.example", now=datetime.now(UTC) + timedelta(days=1)
    )
    assert owner_mail(db) == []
    set_setting(session, "notify_low_stock", True, actor="boss@example.com")
    run(app)
    assert {m.template for m in owner_mail(db)} == {"owner_low_stock"}


def test_the_notices_job_is_on_the_periodic_schedule():
    calls = []
    register_schedule(lambda func, **kw: calls.append((func, kw)), {})
    assert (owner_notices, {"queue_name": "default", "interval": 300}) in calls
