"""No header is made from what people type, beyond ``To`` (one bare address) and ``Subject``
(on one line): a CR, LF or other control character in a name, an email address or a subject
cannot add a header or a recipient. Proved on what a real SMTP server (aiosmtpd on 127.0.0.1)
receives: exactly the expected headers, and only the expected recipient. The shop's forms
refuse such an address before anything is stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db import begin_write
from app.models import Checkout, OutboxMessage, OutboxState, Role, User
from app.services.mail import notifications
from app.services.mail import outbox as mailer
from tests.admin_helpers import signed_in
from tests.checkout_helpers import buy, fill_cart, start_checkout
from tests.factories import variant_with_stock
from tests.outbox_fixtures import (  # noqa: F401 - pytest fixtures
    fixture_app,
    fixture_config,
    fixture_session,
    fixture_sink,
)
from tests.outbox_helpers import outbox

HEADERS = [
    "Subject",
    "From",
    "To",
    "Date",
    "Message-ID",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
]
BREAKS = ["\r\n", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", "\t"]
INJECTED = "Bcc: evil@example.net"


def _only_expected(message, to: str) -> None:
    assert list(message.keys()) == HEADERS
    assert message["To"] == to
    for name in HEADERS:
        assert "evil" not in str(message[name]).lower() or name == "Subject", name


def _queue(session, *, to: str, subject: str, key: str = "walk") -> None:
    begin_write(session)
    notifications.queue_email(
        session,
        kind="checkout_reminder",
        to=to,
        dedupe_key=key,
        context={"checkout_ref": "co_1", "link": "https://shop.example", "items": []},
        subject=subject,
    )
    session.commit()


@pytest.mark.parametrize("brk", ["\r\n", "\n", "\r", "\u2028"])
def test_a_name_typed_at_checkout_cannot_add_a_header(app, browser, db, session, config, sink, brk):
    tee = variant_with_stock(db, 5)
    buy(browser, tee, 1, email="ada@example.com", full_name=f"Ada{brk}{INJECTED}")
    report = mailer.send_pending(session, config)
    assert (report.sent, report.failed) == (1, 0)
    (message,) = sink.messages
    _only_expected(message, "ada@example.com")
    assert sink.envelopes[0][1] == ["ada@example.com"]
    assert INJECTED in message.get_body(("plain",)).get_content()  # what they typed, as text


@pytest.mark.parametrize("brk", BREAKS)
def test_a_subject_made_from_input_stays_one_line(db, session, config, sink, brk):
    _queue(session, to="ada@example.com", subject=f"Your Heavy Tee{brk}{INJECTED}{brk}X-Evil: 1")
    assert mailer.send_pending(session, config).sent == 1
    (message,) = sink.messages
    _only_expected(message, "ada@example.com")
    assert message["Subject"] == f"Your Heavy Tee {INJECTED} X-Evil: 1"
    assert sink.envelopes[0][1] == ["ada@example.com"]


@pytest.mark.parametrize(
    "to",
    [
        f"ada@example.com\r\n{INJECTED}",
        f"ada@example.com\n{INJECTED}",
        "ada@example.com\x0bevil@example.net",
        "ada@example.com\u2028evil@example.net",
        "ada@example.com, evil@example.net",
        "ada@example.com;evil@example.net",
        "Evil <evil@example.net>",
        '"ada@example.com" <evil@example.net>',
    ],
)
def test_a_recipient_that_would_add_a_header_or_a_recipient_is_never_sent(
    db, session, config, sink, to
):
    _queue(session, to=to, subject="Hello")
    report = mailer.send_pending(session, config)
    assert (report.sent, report.retrying, report.failed) == (0, 0, 1)  # failed for good, at once
    (message,) = outbox(db)
    assert message.state is OutboxState.FAILED and "To" in message.last_error
    assert sink.messages == [] and sink.envelopes == []


BAD_ADDRESSES = [
    f"ada@example.com\r\n{INJECTED}",
    f"ada@example.com\n{INJECTED}",
    "ada@example.com\r",
    "ada@example.com\x0b",
    "ada@example.com, evil@example.net",
    "Ada <ada@example.com>",
]


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_checkout_refuses_an_email_address_with_a_line_break(app, browser, db, address):
    fill_cart(browser, (variant_with_stock(db, 5), 1))
    response = start_checkout(browser, email=address)
    assert 400 <= response.status_code < 500
    assert db.scalar(select(func.count()).select_from(Checkout)) == 0


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_registration_refuses_an_email_address_with_a_line_break(app, browser, db, address):
    browser.get("/register")
    password = "correct horse battery"
    response = browser.post(
        "/register", {"email": address, "password": password, "confirm": password}
    )
    assert 400 <= response.status_code < 500
    assert db.scalar(select(func.count()).select_from(User)) == 0
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_an_invitation_typed_with_a_line_break_reaches_no_one(app, db, session, config, sink):
    owner = signed_in(app, Role.OWNER, email="owner@example.com")
    owner.get("/admin/staff")
    for typed in (f"new@example.com\r\n{INJECTED}", "new@example.com, evil@example.net"):
        answer = owner.post("/admin/staff/invite", {"email": typed})
        assert answer.status_code == 303  # back to the staff page, which says why
        page = owner.get(answer.headers["Location"]).get_data(as_text=True)
        assert "Enter a valid email address." in page, typed
    assert db.scalar(select(func.count(User.id)).where(User.email.like("new@%"))) == 0
    mailer.send_pending(session, config)
    assert sink.messages == [] and sink.envelopes == []
    assert all(m.state is not OutboxState.SENT for m in outbox(db))
