"""Registering without enumeration: "check your email" whether the email is new or taken;
a new email gets a link that creates the account (and logs in, merging the guest cart); a
taken one gets a "someone tried to register" note, at most one an hour; used or expired
links answer 410; two links racing for one email make one account."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.models import AuditLog, CartLine, EmailConfirmation, Role, User
from app.services.accounts import registration
from app.services.errors import DomainError
from app.services.mail import rendering
from tests.account_helpers import (
    PASSWORD,
    emails,
    link_path,
    logged_in,
    token_of,
    without_csrf,
)
from tests.conftest import Browser
from tests.factories import UserFactory, variant_with_stock
from tests.outbox_helpers import BASE, T0


@pytest.fixture
def app(app):
    app.config["RATELIMIT_ENABLED"] = False  # the per-address limits are tested elsewhere
    return app


def register(app, email: str, password: str = PASSWORD, name: str = "Ada") -> tuple:
    browser = Browser(app.test_client())
    browser.get("/register")
    data = {"email": email, "password": password, "confirm": password, "name": name}
    return browser, browser.post("/register", data)


def confirm_link(db, email: str) -> str:
    (message,) = emails(db, "email_confirmation", email)
    return link_path(message.context["confirm_link"])


def users(db) -> list[str]:
    db.expire_all()
    return sorted(db.scalars(select(User.email)))


def test_register_answers_the_same_for_a_new_and_a_taken_email(app, db):
    UserFactory(email="taken@example.com")
    _, new = register(app, "new@example.com")
    _, taken = register(app, "Taken@Example.com")
    assert new.status_code == taken.status_code == 200
    assert without_csrf(new.get_data(as_text=True)) == without_csrf(taken.get_data(as_text=True))
    assert "Check your email" in new.get_data(as_text=True)
    assert users(db) == ["taken@example.com"]  # nobody is made before the link is opened
    assert len(emails(db, "email_confirmation", "new@example.com")) == 1
    assert len(emails(db, "registration_attempt", "taken@example.com")) == 1
    assert emails(db, "email_confirmation", "taken@example.com") == []


def test_the_emailed_link_creates_the_account_logs_in_and_keeps_the_cart(app, db):
    tee = variant_with_stock(db, 5)
    browser, answer = register(app, "New@Example.com")
    assert browser.post("/cart/add", {"variant_id": tee.id, "quantity": 2}).status_code == 303
    path = confirm_link(db, "new@example.com")
    row = db.scalar(select(EmailConfirmation))
    stored = row.password_hash
    assert token_of(path, "confirm") not in row.token_hash and len(row.token_hash) == 64
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert row.expires_at - row.created_at == timedelta(hours=24)

    page = browser.get(path)  # opening the link shows one button; a scanner creates nothing
    assert page.status_code == 200 and "new@example.com" in page.get_data(as_text=True)
    assert users(db) == []
    before = browser.client.get_cookie("session").value
    done = browser.post(path)
    assert done.status_code == 303
    assert browser.client.get_cookie("session").value != before  # the session is rotated
    user = db.scalar(select(User))
    assert (user.email, user.name, user.role) == ("new@example.com", "Ada", Role.CUSTOMER)
    assert user.password_hash == stored
    assert browser.client.get("/account").status_code == 200
    assert db.scalar(select(CartLine.quantity)) == 2
    assert db.scalar(select(AuditLog.id).where(AuditLog.action == "user.registered"))
    assert logged_in(app, "new@example.com")  # the password chosen at registration works

    again = browser.get(path)
    assert again.status_code == 410 and "Register again" in again.get_data(as_text=True)
    assert browser.post(path).status_code == 410
    assert users(db) == ["new@example.com"]


def test_an_expired_or_unknown_link_is_410_with_a_way_to_register_again(app, db):
    register(app, "new@example.com")
    path = confirm_link(db, "new@example.com")
    db.execute(update(EmailConfirmation).values(expires_at=datetime.now(UTC) - timedelta(1)))
    visitor = Browser(app.test_client())
    for url in (path, "/register/confirm/made-up-token"):
        page = visitor.get(url)
        assert page.status_code == 410
        assert 'href="/register"' in page.get_data(as_text=True)
        assert visitor.post(url).status_code == 410
    assert users(db) == []


def test_a_flood_on_a_taken_email_sends_one_note_an_hour(app, db):
    UserFactory(email="taken@example.com")
    for _ in range(5):
        register(app, "taken@example.com")
    (note,) = emails(db, "registration_attempt")
    assert note.context["login_link"].endswith("/login")
    assert note.context["reset_link"].endswith("/password/forgot")
    session = app.extensions["holdfast.db"].session_factory()
    for minutes in (0, 30, 59, 61, 90, 122):
        registration.start_registration(
            session,
            "taken@example.com",
            PASSWORD,
            "",
            base_url=BASE,
            now=T0 + timedelta(minutes=minutes),
        )
    session.close()
    assert len(emails(db, "registration_attempt")) == 1 + 3  # at 0, 61 and 122 minutes
    assert users(db) == ["taken@example.com"]


def test_an_email_taken_before_its_link_is_opened_makes_no_second_account(app, db):
    browser, _ = register(app, "ada@example.com")
    path = confirm_link(db, "ada@example.com")
    UserFactory(email="ada@example.com", name="First")
    browser.get(path)
    answer = browser.post(path)
    assert answer.status_code == 410
    assert "already has an account" in answer.get_data(as_text=True)
    assert users(db) == ["ada@example.com"]
    assert browser.client.get("/account").status_code == 302


def test_two_links_for_one_email_racing_make_one_account(app, db):
    session = app.extensions["holdfast.db"].session_factory()
    for _ in range(2):
        registration.start_registration(session, "ada@example.com", PASSWORD, "Ada", base_url=BASE)
    session.close()
    tokens = [
        token_of(m.context["confirm_link"], "confirm") for m in emails(db, "email_confirmation")
    ]
    assert len(tokens) == 2
    factory = app.extensions["holdfast.db"].session_factory
    start, outcomes = threading.Barrier(2), []

    def open_link(token: str) -> None:
        with factory() as own:
            start.wait()
            try:
                outcomes.append(registration.confirm(own, token).email)
            except DomainError as exc:
                outcomes.append(exc.status_code)

    threads = [threading.Thread(target=open_link, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(map(str, outcomes)) in (["409", "ada@example.com"], ["410", "ada@example.com"])
    assert users(db) == ["ada@example.com"]
    assert (
        db.scalar(select(EmailConfirmation.id).where(EmailConfirmation.used_at.is_(None))) is None
    )


def test_registering_again_resends_but_a_flood_to_a_new_email_stops_at_three_an_hour(app, db):
    for _ in range(5):
        register(app, "new@example.com")
    assert len(emails(db, "email_confirmation", "new@example.com")) == 3


def test_used_and_expired_confirmations_are_pruned(app, db):
    session = app.extensions["holdfast.db"].session_factory()
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    for email, now in [("a@example.com", two_days_ago), ("b@example.com", None), ("c@x.io", None)]:
        registration.start_registration(session, email, PASSWORD, "", base_url=BASE, now=now)
    registration.confirm(session, token_of(confirm_link(db, "b@example.com"), "confirm"))
    assert registration.prune_confirmations(session) == 2  # a's expired, b's used
    session.close()
    assert list(db.scalars(select(EmailConfirmation.email))) == ["c@x.io"]


def test_the_confirmation_link_is_erased_from_the_outbox_once_sent(app, db):
    from app.services.mail import outbox as mailer

    register(app, "new@example.com")
    session = app.extensions["holdfast.db"].session_factory()
    assert mailer.send_pending(session, dict(app.config)).sent == 1
    session.close()
    (message,) = emails(db, "email_confirmation")
    assert message.context["confirm_link"] == mailer.ERASED


def test_both_emails_say_what_to_do_in_text_and_html(app, db):
    UserFactory(email="taken@example.com")
    register(app, "new@example.com", name="<b>Ada</b>")
    register(app, "taken@example.com")
    (confirm,) = emails(db, "email_confirmation")
    (note,) = emails(db, "registration_attempt")
    for message, needles in [
        (confirm, [confirm.context["confirm_link"], "24 hours"]),
        (note, [note.context["login_link"], note.context["reset_link"], "tried to register"]),
    ]:
        text, html = rendering.render(
            message.template, message.context, shop_name="Shop", shop_url=BASE
        )
        for needle in needles:
            assert needle in text and needle in html
    html = rendering.render(confirm.template, confirm.context, shop_name="S", shop_url=BASE)[1]
    assert "<b>Ada</b>" not in html and "&lt;b&gt;Ada&lt;/b&gt;" in html
