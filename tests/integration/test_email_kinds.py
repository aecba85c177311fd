"""What each kind of email says, through a real SMTP server (aiosmtpd on 127.0.0.1): every kind
arrives in text and HTML with the order's items and its link, the HTML escapes what shoppers
typed, and a password-reset link is erased once sent and never sent after it expired."""

from __future__ import annotations

from app.db import begin_write
from app.models import Order, OutboxMessage, OutboxState
from app.services import locks
from app.services.mail import notifications
from app.services.mail import outbox as mailer
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
        "Your payment was refunded": "co_late",
        "Reset your password": f"{BASE}/account/reset/tok3n",
    }


def test_every_kind_of_email_arrives_in_text_and_html_with_the_items_and_the_link(
    session, config, order, sink, db
):
    url = queue_every_kind_of_email(session, order)
    assert {m.template for m in outbox(db)} == set(notifications.KINDS)

    report = mailer.send_pending(session, config)
    assert (report.sent, report.retrying, report.failed) == (11, 0, 0)
    received = {m["Subject"]: m for m in sink.messages}
    number = order.number
    expected = subjects_and_phrases(number)
    assert set(received) == set(expected)
    for subject, phrase in expected.items():
        plain, html = bodies(received[subject])
        assert phrase in plain, subject
        assert phrase.replace(" x ", " &times; ") in html or phrase in html, subject
        if subject.startswith(("Your payment", "Reset")):
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
