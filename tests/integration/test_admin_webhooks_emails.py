"""Webhooks and emails in the admin, through the pages: every webhook event with its state and
error, filtered and paged, replayed once (idempotent); the outbox with state, attempts and
error, a failed email sent again, a sent one copied under a new dedupe key (a double click is
one copy), and any message read as sent, its HTML only inside a sandboxed frame."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from app.models import AuditLog, Order, OutboxMessage, OutboxState, Role, WebhookEvent
from app.models import WebhookState as WS
from app.services.mail import notifications
from tests.admin_helpers import signed_in, text
from tests.checkout_helpers import paid_checkout
from tests.factories import variant_with_stock


def webhook(db, ref: str | None, state: WS = WS.FAILED, error="provider timed out", n=1):
    row = WebhookEvent(
        provider="testpay",
        event_id=f"evt_{n}",
        kind="payment.captured",
        provider_ref=ref,
        amount_cents=2000,
        currency="USD",
        payload={},
        state=state,
        error=error,
        attempts=1,
    )
    db.add(row)
    db.flush()
    return row


@pytest.fixture
def paid_ref(browser, db) -> str:
    """A payment the shopper approved that no report has completed yet."""
    tee = variant_with_stock(db, 5, price_cents=2000)
    _path, ref = paid_checkout(browser, tee, 1)
    return ref


def audit_count(db, action: str) -> int:
    return db.scalar(select(func.count()).where(AuditLog.action == action))


def test_visitors_and_customers_find_neither_page(app, db):
    customer = signed_in(app, Role.CUSTOMER)
    hook = webhook(db, None)
    for url in ("/admin/webhooks", "/admin/emails", "/admin/emails/1"):
        assert app.test_client().get(url).status_code == 404
        assert customer.get(url).status_code == 404
    assert customer.post(f"/admin/webhooks/{hook.id}/replay", {}).status_code == 404
    assert customer.post("/admin/emails/1/resend", {"key": "a" * 32}).status_code == 404


def test_webhooks_are_listed_with_state_and_error_and_filtered(staff, db):
    failed = webhook(db, "tp_x", n=1)
    done = webhook(db, "tp_y", WS.PROCESSED, None, n=2)
    page = text(staff.get("/admin/webhooks"))
    assert f'data-webhook="{failed.id}" data-state="failed"' in page
    assert f'data-webhook="{done.id}" data-state="processed"' in page
    assert "provider timed out" in page and "Replay" in page
    only_failed = text(staff.get("/admin/webhooks?state=failed&provider=testpay"))
    assert f'data-webhook="{failed.id}"' in only_failed
    assert f'data-webhook="{done.id}"' not in only_failed
    assert f'data-webhook="{failed.id}"' not in text(staff.get("/admin/webhooks?provider=paypal"))
    assert staff.get("/admin/webhooks?state=lost").status_code == 400
    assert 'href="/admin/webhooks?state=failed"' in text(staff.get("/admin"))


def test_replaying_a_failed_webhook_completes_the_payment_once(staff, db, paid_ref):
    hook = webhook(db, paid_ref)
    assert staff.post(f"/admin/webhooks/{hook.id}/replay", {}).status_code == 303
    assert "replayed: processed" in text(staff.get("/admin/webhooks"))
    assert staff.post(f"/admin/webhooks/{hook.id}/replay", {}).status_code == 303
    db.expire_all()
    assert db.get(WebhookEvent, hook.id).state is WS.PROCESSED
    assert db.scalar(select(func.count()).select_from(Order)) == 1
    assert audit_count(db, "webhook.replayed") == 1
    entry = db.scalar(select(AuditLog).where(AuditLog.action == "webhook.replayed"))
    assert (entry.details["before"], entry.details["after"]) == ("failed", "processed")
    assert "already processed; nothing to replay" in text(staff.get("/admin/webhooks"))


def test_replaying_an_event_for_no_payment_of_ours_ignores_it(staff, db):
    hook = webhook(db, "tp_unknown")
    staff.post(f"/admin/webhooks/{hook.id}/replay", {})
    db.expire_all()
    assert db.get(WebhookEvent, hook.id).state is WS.IGNORED
    staff.post("/admin/webhooks/999999/replay", {})
    assert "There is no such webhook event." in text(staff.get("/admin/webhooks"))


def test_replay_without_csrf_is_refused(staff, db):
    hook = webhook(db, "tp_unknown")
    assert staff.client.post(f"/admin/webhooks/{hook.id}/replay").status_code == 400
    db.expire_all()
    assert db.get(WebhookEvent, hook.id).state is WS.FAILED


def queued(app, to: str = "lin@example.com", ref: str = "co_1") -> int:
    session = app.extensions["holdfast.db"].session_factory()
    try:
        message = notifications.checkout_reminder(
            session, to=to, checkout_ref=ref, items=[("Tee <b>", 2)], link="http://shop"
        )
        session.commit()
        return message.id
    finally:
        session.close()


def set_state(db, message_id: int, state: OutboxState, **values) -> None:
    db.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id).values(state=state, **values)
    )


def key_of(page: str) -> str:
    return page.split('name="key" type="hidden" value="')[1].split('"')[0]


def test_the_outbox_lists_state_attempts_and_error_and_filters(app, staff, db):
    failed = queued(app)
    other = queued(app, "bo@example.com", "co_2")
    set_state(db, failed, OutboxState.FAILED, attempts=5, last_error="550 mailbox unavailable")
    page = text(staff.get("/admin/emails"))
    assert f'data-email="{failed}" data-state="failed"' in page
    assert "550 mailbox unavailable" in page and "<td>5</td>" in page
    only = text(staff.get("/admin/emails?state=failed&kind=checkout_reminder&q=LIN@"))
    assert f'data-email="{failed}"' in only and f'data-email="{other}"' not in only
    assert staff.get("/admin/emails?kind=spam").status_code == 400
    assert 'href="/admin/emails?state=failed"' in text(staff.get("/admin"))


def test_a_failed_email_is_sent_again_with_fresh_attempts(app, staff, db):
    failed = queued(app)
    set_state(db, failed, OutboxState.FAILED, attempts=5, last_error="550")
    key = key_of(text(staff.get("/admin/emails")))
    assert staff.post(f"/admin/emails/{failed}/resend", {"key": key}).status_code == 303
    db.expire_all()
    message = db.get(OutboxMessage, failed)
    assert message.state in (OutboxState.PENDING, OutboxState.SENDING, OutboxState.SENT)
    assert message.attempts <= 1
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert audit_count(db, "email.retried") == 1
    assert "will be sent again shortly" in text(staff.get("/admin/emails"))


def test_a_sent_email_is_copied_once_under_a_new_dedupe_key(app, staff, db):
    sent = queued(app)
    set_state(db, sent, OutboxState.SENT, attempts=1)
    key = key_of(text(staff.get(f"/admin/emails/{sent}")))
    for _ in range(2):
        answer = staff.post(f"/admin/emails/{sent}/resend", {"key": key})
        assert answer.status_code == 303
    copies = db.scalars(select(OutboxMessage).where(OutboxMessage.id != sent)).all()
    assert len(copies) == 1 and copies[0].dedupe_key == f"resend:{sent}:{key}"
    assert copies[0].to_address == "lin@example.com" and copies[0].template == "checkout_reminder"
    db.expire_all()
    assert db.get(OutboxMessage, sent).state is OutboxState.SENT
    assert audit_count(db, "email.resent") == 1
    assert "A new copy of email" in text(staff.get(f"/admin/emails/{sent}"))


def test_a_password_reset_is_never_resent_and_bad_keys_change_nothing(app, staff, db):
    session = app.extensions["holdfast.db"].session_factory()
    try:
        reset = notifications.password_reset(
            session, to="ada@example.com", reset_link="http://s/r/x", expires_minutes=30, user_id=1
        ).id
        session.commit()
    finally:
        session.close()
    set_state(db, reset, OutboxState.SENT)
    staff.post(f"/admin/emails/{reset}/resend", {"key": "b" * 32})
    assert "ask the shopper to request a new one" in text(staff.get("/admin/emails"))
    staff.post(f"/admin/emails/{reset}/resend", {"key": "not hex!" * 3})
    assert (
        staff.client.post(f"/admin/emails/{reset}/resend", data={"key": "b" * 32}).status_code
        == 400
    )
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_a_message_reads_as_sent_and_its_html_stays_in_a_sandbox(app, staff, db):
    message = queued(app)
    page = text(staff.get(f"/admin/emails/{message}"))
    assert "You left something in your cart" in page
    assert "Message-ID" in page and "lin@example.com" in page
    assert "2 x Tee &lt;b&gt;" in page  # the text part, escaped
    assert '<iframe class="email-preview" sandbox=""' in page and 'srcdoc="' in page
    frame = page.split('srcdoc="')[1].split('"></iframe>')[0]
    assert "<" not in frame and "&lt;" in frame  # the HTML only as an attribute value
    assert staff.get("/admin/emails/999999").status_code == 404
