"""What each kind of email says, through a real SMTP server (aiosmtpd on 127.0.0.1): every kind
arrives in text and HTML with the order's items and its link, the HTML escapes what shoppers
typed, and a password-reset link is erased once sent and never sent after it expired."""

from __future__ import annotations

from app.db import begin_write
from app.models import AlertKind, Order, OutboxMessage, OutboxState
from app.services import locks
from app.services.mail import account_mail, notifications, order_link_mail, owner_mail
from app.services.mail import outbox as mailer
from app.services.ops.alert_texts import email_context
from tests.factories import VariantFactory
from tests.outbox_fixtures import (  # noqa: F401 - pytest fixtures
    fixture_app,
    fixture_config,
    fixture_order,
    fixture_session,
    fixture_sink,
)
from tests.outbox_helpers import BASE, T0, at, bodies, confirm, link, outbox, place_order


def queue_every_kind_of_email(session, order: Order) -> str:
    """One email of every kind, four of them keys (each complete/first pair), in one
    transaction; returns the order's link."""
    begin_write(session)
    url = link(order)
    notifications.order_confirmed(session, order, link=url)
    for n, (complete, first) in enumerate(
        [(True, True), (False, True), (False, False), (True, False)]
    ):
        notifications.keys_delivered(
            session,
            order,
            [("Grotesk Font licence", f"KEY-{n}")],
            link=url,
            complete=complete,
            first=first,
        )
    notifications.awaiting_stock(session, order, link=url, waiting=[("Heavy Tee — M", 2)])
    notifications.shipped(session, order, link=url, carrier="Royal Mail", tracking="RM1GB")
    notifications.refunded(
        session,
        order,
        link=url,
        amount_cents=2500,
        currency="USD",
        reason="Damaged in transit",
        refund_id=7,
    )
    notifications.return_received(session, order, link=url, lines=[("Heavy Tee — M", 1)])
    notifications.return_refused(
        session, order, link=url, lines=[("Heavy Tee — M", 1)], reason="Worn", return_id=3
    )
    notifications.checkout_reminder(
        session, to="lin@example.com", checkout_ref="co_left", items=[("Tee", 2)], link=BASE
    )
    notifications.late_payment_refunded(
        session,
        to="grace@example.com",
        checkout_ref="co_late",
        amount_cents=4900,
        currency="USD",
        reason="the hold expired and the item sold out",
        items=[("Grotesk Font licence", 1)],
        link=BASE,
    )
    notifications.password_reset(
        session,
        to="ada@example.com",
        reset_link=f"{BASE}/account/reset/tok3n",
        expires_minutes=30,
        user_id=1,
    )
    queue_account_emails(session, order, url)
    queue_staff_and_owner_emails(session, order, url)
    session.commit()
    return url


def subjects_and_phrases(number: str) -> dict[str, str]:
    """The subject of each email queue_every_kind_of_email queues, and a phrase it says."""
    return {
        f"Order {number} confirmed": "is confirmed",
        f"Your keys for order {number}": "Everything you ordered is now delivered",
        f"Your first keys for order {number}; the rest are coming": "The rest are on their way",
        f"More keys for order {number}": "The rest are still on their way",
        f"The rest of your keys for order {number}": "Here are the rest of your keys",
        f"Order {number}: some items are on their way to us": "2 x Heavy Tee",
        f"Order {number} has shipped": "RM1GB",
        f"Refund of $25.00 for order {number}": "Damaged in transit",
        f"We received your return for order {number}": "1 x Heavy Tee",
        f"About your return for order {number}": "Why: Worn",
        "You left something in your cart": "2 x Tee",
        "Your payment was refunded": "co_late",
        "Reset your password": f"{BASE}/account/reset/tok3n",
        "Confirm your email to create your account": f"{BASE}/register/confirm/tok",
        "Someone tried to register with your email": f"{BASE}/password/forgot",
        f"Your link to order {number}": "asked for a new link to order",
        **staff_and_owner_subjects(number),
    }


def test_every_kind_of_email_arrives_in_text_and_html_with_the_items_and_the_link(
    session, config, order, sink, db
):
    url = queue_every_kind_of_email(session, order)
    assert {m.template for m in outbox(db)} == set(notifications.KINDS)

    report = mailer.send_pending(session, config)
    assert (report.sent, report.retrying, report.failed) == (len(subjects_and_phrases("")), 0, 0)
    received = {m["Subject"]: m for m in sink.messages}
    number = order.number
    expected = subjects_and_phrases(number)
    assert set(received) == set(expected)
    for subject, phrase in expected.items():
        plain, html = bodies(received[subject])
        assert phrase in plain, subject
        assert phrase.replace(" x ", " &times; ") in html or phrase in html, subject
        if subject.startswith(("Your payment", "Reset", "You left", *NO_ORDER_ITEMS)):
            continue
        for body in (plain, html):
            assert "Heavy Tee — M" in body and "$99.00" in body and url in body, subject
    keys_plain, keys_html = bodies(received[f"More keys for order {number}"])
    assert "KEY-2" in keys_plain and "KEY-2" in keys_html


def test_the_html_escapes_what_shoppers_typed(session, config, db, sink):
    tee = VariantFactory(sku="TEE-X", product__name="Tee")
    o = place_order(session, [(tee, "Tee <script>alert(1)</script>", 1)])
    confirm(session, o)
    mailer.send_pending(session, config, now=T0)
    plain, html = bodies(sink.messages[0])
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<script>" in plain  # plain text is not HTML


def test_a_reset_link_is_erased_once_sent_and_never_sent_after_it_expired(
    session, config, sink, db
):
    begin_write(session)
    notifications.password_reset(
        session,
        to="a@example.com",
        reset_link=f"{BASE}/reset/one",
        expires_minutes=30,
        user_id=1,
        now=T0,
    )
    notifications.password_reset(
        session,
        to="b@example.com",
        reset_link=f"{BASE}/reset/two",
        expires_minutes=30,
        user_id=2,
        now=T0,
    )
    session.commit()
    sent_in_time, _late = outbox(db)
    locks.lock_leaf(session, OutboxMessage, sent_in_time.id).next_attempt_at = T0
    locks.lock_leaf(session, OutboxMessage, _late.id).next_attempt_at = at(31)
    session.commit()

    assert mailer.send_pending(session, config, now=at(1)).sent == 1
    assert mailer.send_pending(session, config, now=at(31)).failed == 1
    first, late = outbox(db)
    assert first.state is OutboxState.SENT and first.context["reset_link"] == mailer.ERASED
    assert late.state is OutboxState.FAILED and "expired" in late.last_error
    assert [m["To"] for m in sink.messages] == ["a@example.com"]


# ---------------------------------------------------------------- staff and the owner's emails

NO_ORDER_ITEMS = (
    "You are invited",
    "Low stock",
    "2 things failed",
    "Your shop on",
    "Confirm your email",
    "Someone tried to register",
    "Your link to order",
    "Alert:",
)


def queue_account_emails(session, order: Order, url: str) -> None:
    """The emails of registering and of asking for a new order link."""
    account_mail.email_confirmation(
        session,
        to="new@example.com",
        confirm_link=f"{BASE}/register/confirm/tok",
        expires_hours=24,
        confirmation_id=1,
    )
    account_mail.registration_attempt(
        session,
        to="ada@example.com",
        user_id=1,
        login_link=f"{BASE}/login",
        reset_link=f"{BASE}/password/forgot",
    )
    order_link_mail.queue_order_link(session, order, link=url, days=90)


def queue_staff_and_owner_emails(session, order: Order, url: str) -> None:
    """A staff invitation and each of the owner's emails (services.mail.owner_mail)."""
    notifications.staff_invite(
        session,
        to="new.hire@example.com",
        link=f"{BASE}/password/reset/inv1te",
        invited_by="boss@example.com",
        expires_days=7,
        user_id=9,
    )
    owner_mail.new_order(session, order, to="boss@example.com", owner_id=1, link=url)
    owner_mail.low_stock(
        session,
        to="boss@example.com",
        owner_id=1,
        refs=["5:0"],
        variants=[{"sku": "TEE-M", "name": "Heavy Tee M", "available": 2, "threshold": 5}],
        link=f"{BASE}/admin/products",
    )
    failed = [
        {"what": "webhook", "id": 3, "detail": "testpay x", "error": "no such payment"},
        {"what": "email", "id": 4, "detail": "shipped to a@example.com", "error": "550 gone"},
    ]
    owner_mail.failures(
        session,
        to="boss@example.com",
        owner_id=1,
        refs=["webhook:3", "email:4"],
        failed=failed,
        link=f"{BASE}/admin",
    )
    summary = {"orders": 3, "revenue": "$120.00", "refund_count": 1, "refunds": "$20.00"}
    owner_mail.daily_summary(
        session,
        to="boss@example.com",
        owner_id=1,
        day="2030-01-01",
        summary={**summary, "low_stock": [{"sku": "TEE-M", "name": "Heavy Tee M", "available": 2}]},
        link=f"{BASE}/admin",
    )
    owner_mail.owner_alert(
        session,
        to="boss@example.com",
        owner_id=1,
        alert_id=1,
        context=email_context(
            AlertKind.WEBHOOKS,
            detail="7 webhook requests refused",
            opened_at=T0,
            resolved_at=None,
            link=f"{BASE}/admin/health",
        ),
    )


def staff_and_owner_subjects(number: str) -> dict[str, str]:
    return {
        "You are invited to run the shop": f"{BASE}/password/reset/inv1te",
        f"New order {number}: $99.00": "from ada@example.com",
        "Low stock: 1 variant": "TEE-M",
        "2 things failed in your shop": "550 gone",
        "Your shop on 2030-01-01: 3 orders, $120.00": "1 ($20.00)",
        "Alert: Payment webhooks failing": "7 webhook requests refused",
    }


def test_an_invitation_link_is_erased_once_sent(session, config, sink, db):
    begin_write(session)
    notifications.staff_invite(
        session,
        to="new.hire@example.com",
        link=f"{BASE}/password/reset/inv1te",
        invited_by="boss@example.com",
        expires_days=7,
        user_id=9,
    )
    session.commit()
    assert mailer.send_pending(session, config).sent == 1
    (sent,) = outbox(db)
    assert sent.context["invite_link"] == mailer.ERASED
    assert "inv1te" in bodies(sink.messages[0])[0]
