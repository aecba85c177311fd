"""Checkouts in the admin, through the pages: for 24 hours, 7 or 30 days, the funnel by
phase and state, failure reasons, success rate and a server-drawn chart; the abandoned
checkouts (expired or failed, with an email); and the reminder email, sent once per abandoned
checkout by the periodic job only when the owner switched it on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.jobs import checkout_reminders, register_schedule
from app.models import Checkout, CheckoutState, OutboxMessage, Role
from app.services.admin import checkouts as checkouts_service
from app.services.admin.settings import set_setting
from app.services.checkout import pipeline
from tests.admin_helpers import signed_in, text
from tests.checkout_helpers import checkout_path, fill_cart, start_checkout
from tests.conftest import Browser
from tests.factories import variant_with_stock


def service_session(app):
    return app.extensions["holdfast.db"].session_factory()


@pytest.fixture
def three(app, db) -> list[Checkout]:
    """Three checkouts started: one still reserved, one expired, one failed at payment."""
    tee = variant_with_stock(db, 50, price_cents=1500, product__name="Heavy Tee")
    for email in ("ada@example.com", "bo@example.com", "cy@example.com"):
        shopper = Browser(app.test_client())
        fill_cart(shopper, (tee, 2))
        checkout_path(start_checkout(shopper, email=email))
    rows = db.scalars(select(Checkout).order_by(Checkout.id)).all()
    session = service_session(app)
    try:
        checkout = session.get(Checkout, rows[1].id)
        pipeline.expire_if_due(session, checkout, checkout.expires_at + timedelta(seconds=1))
    finally:
        session.close()
    db.execute(
        update(Checkout)
        .where(Checkout.id == rows[2].id)
        .values(
            state=CheckoutState.FAILED,
            phase="payment_authorization",
            failure_phase="payment_authorization",
            failure_reason="card declined",
            active_cart_id=None,
            ended_at=rows[2].created_at,
        )
    )
    db.expire_all()
    return db.scalars(select(Checkout).order_by(Checkout.id)).all()


def test_visitors_and_customers_find_no_checkouts_page(app, db):
    assert app.test_client().get("/admin/checkouts").status_code == 404
    assert signed_in(app, Role.CUSTOMER).get("/admin/checkouts").status_code == 404


def test_the_report_shows_funnel_reasons_rate_and_a_chart(staff, three):
    page = text(staff.get("/admin/checkouts"))
    assert "3 started · 0 completed · 1 expired · 0 cancelled · 1 failed · 1 in progress" in page
    assert "0.0% success" in page
    assert '<tr data-phase="payment_authorization">' in page
    assert (
        "<svg" in page
        and "3 started, 0 completed" in page
        and "<script" not in page.split("<svg")[1].split("</svg>")[0]
    )
    assert "card declined" in page
    for period in ("7d", "30d"):
        assert "3 started" in text(staff.get(f"/admin/checkouts?period={period}"))
    assert staff.get("/admin/checkouts?period=1y").status_code == 400


def test_abandoned_checkouts_are_listed_with_their_email(staff, three):
    page = text(staff.get("/admin/checkouts"))
    assert "2 abandoned checkouts" in page
    assert f'data-checkout="{three[1].public_id}"' in page and "bo@example.com" in page
    assert f'data-checkout="{three[2].public_id}"' in page and "cy@example.com" in page
    assert f'data-checkout="{three[0].public_id}"' not in page
    assert "2 × Heavy Tee" in page and "Reminder emails are off" in page


def reminders(db) -> list[OutboxMessage]:
    return db.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "checkout_reminder")
    ).all()


def test_no_reminder_is_sent_unless_the_owner_switched_them_on(app, db, three):
    later = three[1].ended_at + timedelta(hours=2)
    session = service_session(app)
    try:
        assert checkouts_service.send_reminders(session, shop_url="http://shop", now=later) == 0
        set_setting(session, "abandoned_reminders", True, actor="owner@example.com")
        assert checkouts_service.send_reminders(session, shop_url="http://shop", now=later) == 2
        assert checkouts_service.send_reminders(session, shop_url="http://shop", now=later) == 0
    finally:
        session.close()
    sent = reminders(db)
    assert sorted(m.to_address for m in sent) == ["bo@example.com", "cy@example.com"]
    assert {m.dedupe_key for m in sent} == {
        f"checkout-reminder:{three[1].public_id}",
        f"checkout-reminder:{three[2].public_id}",
    }


def test_a_shopper_who_bought_since_or_just_left_is_not_reminded(app, db, three):
    session = service_session(app)
    try:
        set_setting(session, "abandoned_reminders", True, actor="owner@example.com")
        too_soon = three[1].ended_at + timedelta(minutes=10)
        assert checkouts_service.send_reminders(session, shop_url="http://s", now=too_soon) == 0
        db.execute(
            update(Checkout)
            .where(Checkout.id == three[0].id)
            .values(
                email="bo@example.com",
                state=CheckoutState.COMPLETED,
                active_cart_id=None,
                created_at=three[1].created_at + timedelta(minutes=1),
            )
        )
        later = three[1].ended_at + timedelta(hours=2)
        assert checkouts_service.send_reminders(session, shop_url="http://s", now=later) == 1
    finally:
        session.close()
    assert [m.to_address for m in reminders(db)] == ["cy@example.com"]


def test_the_reminder_job_is_on_the_schedule_and_the_list_says_sent(app, db, three, staff):
    calls = []
    register_schedule(lambda job, **kw: calls.append((job, kw)), {})
    assert (checkout_reminders, {"queue_name": "default", "interval": 900}) in calls
    session = service_session(app)
    try:
        set_setting(session, "abandoned_reminders", True, actor="owner@example.com")
        later = three[1].ended_at + timedelta(hours=2)
        checkouts_service.send_reminders(session, shop_url="http://s", now=later)
    finally:
        session.close()
    page = text(staff.get("/admin/checkouts"))
    assert "Reminder emails are on" in page
    assert page.count("<td>sent</td>") == 2
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) >= 2
