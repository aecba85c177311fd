"""Sessions that end: a copied session cookie stops opening /account after log-out, a
password change or reset, a role change, deactivation and "log out everywhere"; a malformed
or outdated session id is anonymous, never an error. Each end leaves an audit row."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import AuditLog, Role, User
from tests.account_helpers import (
    PASSWORD,
    copy_of,
    emails,
    link_path,
    logged_in,
    opens_account,
)
from tests.admin_helpers import signed_in
from tests.conftest import Browser
from tests.factories import UserFactory

NEW_PASSWORD = "a brand new secret"


def ended(db, reason: str) -> list[AuditLog]:
    db.expire_all()
    rows = db.scalars(select(AuditLog).where(AuditLog.action == "user.sessions_ended"))
    return [row for row in rows if row.details.get("reason") == reason]


def version(db, email: str) -> int:
    db.expire_all()
    return db.scalar(select(User.session_version).where(User.email == email))


@pytest.fixture
def ada(app, db) -> Browser:
    UserFactory(email="ada@example.com")
    return logged_in(app, "ada@example.com")


def test_log_out_ends_a_copied_session_too(app, db, ada):
    thief = copy_of(app, ada)
    assert opens_account(thief)
    assert ada.post("/logout").status_code == 303
    assert not opens_account(ada)
    assert not opens_account(thief)
    (row,) = ended(db, "logged_out")
    assert row.subject_id == db.scalar(select(User.id)) and row.actor == "ada@example.com"


def test_log_out_everywhere_ends_every_session_of_the_account(app, db, ada):
    other_device = logged_in(app, "ada@example.com")
    thief = copy_of(app, ada)
    page = ada.get("/account").get_data(as_text=True)
    assert "Log out everywhere" in page
    answer = ada.post("/account/logout-everywhere")
    assert answer.status_code == 303 and "/login" in answer.headers["Location"]
    assert not any(opens_account(b) for b in (ada, other_device, thief))
    assert len(ended(db, "logged_out_everywhere")) == 1
    assert logged_in(app, "ada@example.com")  # logging in again works


def test_changing_the_password_keeps_this_browser_and_ends_the_others(app, db, ada):
    thief = copy_of(app, ada)
    ada.get("/account")
    answer = ada.post(
        "/account/password",
        {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)
    assert "Every other device is logged out" in ada.get("/account").get_data(as_text=True)
    assert opens_account(ada)
    assert not opens_account(thief)
    assert len(ended(db, "password_changed")) == 1
    assert db.scalar(select(AuditLog.id).where(AuditLog.action == "user.password_changed"))
    assert logged_in(app, "ada@example.com", NEW_PASSWORD)


def test_a_wrong_current_password_changes_nothing(app, db, ada):
    thief = copy_of(app, ada)
    before = db.scalar(select(User.password_hash))
    ada.get("/account")
    wrong = ada.post(
        "/account/password",
        {"current": "not my password", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert wrong.status_code == 422
    assert "current password is not right" in wrong.get_data(as_text=True)
    ada.get("/account")
    short = ada.post("/account/password", {"current": PASSWORD, "password": "x", "confirm": "x"})
    assert short.status_code == 422 and "at least 10" in short.get_data(as_text=True)
    db.expire_all()
    assert db.scalar(select(User.password_hash)) == before
    assert opens_account(thief) and not ended(db, "password_changed")


def test_changing_the_password_needs_a_csrf_token_and_a_session(app, db, ada):
    data = {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert ada.client.post("/account/password", data=data).status_code == 400
    assert ada.client.post("/account/logout-everywhere").status_code == 400
    visitor = Browser(app.test_client())
    answer = visitor.post("/account/password", data)
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_a_password_reset_ends_every_session(app, db, ada):
    thief = copy_of(app, ada)
    stranger = Browser(app.test_client())
    stranger.get("/password/forgot")
    stranger.post("/password/forgot", {"email": "ada@example.com"})
    (message,) = emails(db, "password_reset")
    path = link_path(message.context["reset_link"])
    stranger.get(path)
    done = stranger.post(path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 303
    assert not opens_account(ada) and not opens_account(thief)
    assert len(ended(db, "password_reset")) == 1


def test_a_role_change_ends_the_persons_sessions(app, db):
    owner = signed_in(app, Role.OWNER, email="owner@example.com")
    helper = signed_in(app, Role.STAFF, email="helper@example.com")
    thief = copy_of(app, helper)
    assert thief.client.get("/admin").status_code == 200
    helper_id = db.scalar(select(User.id).where(User.email == "helper@example.com"))
    assert owner.post(f"/admin/staff/{helper_id}/role", {"role": "owner"}).status_code == 303
    assert not opens_account(helper) and not opens_account(thief)
    (row,) = ended(db, "role_changed")
    assert row.actor == "owner@example.com" and row.subject_id == helper_id
    assert opens_account(owner)


def test_deactivating_ends_the_persons_sessions_and_reactivating_does_not_revive_them(app, db):
    owner = signed_in(app, Role.OWNER, email="owner@example.com")
    helper = signed_in(app, Role.STAFF, email="helper@example.com")
    thief = copy_of(app, helper)
    helper_id = db.scalar(select(User.id).where(User.email == "helper@example.com"))
    owner.post(f"/admin/staff/{helper_id}/deactivate")
    assert not opens_account(helper) and not opens_account(thief)
    owner.post(f"/admin/staff/{helper_id}/reactivate")
    assert not opens_account(helper) and not opens_account(thief)
    assert len(ended(db, "deactivated")) == 1
    assert logged_in(app, "helper@example.com").client.get("/admin").status_code == 200


def test_creating_an_owner_over_an_account_ends_its_sessions(app, db, ada):
    thief = copy_of(app, ada)
    result = app.test_cli_runner().invoke(
        args=["holdfast", "create-owner", "ada@example.com", "--password-stdin"],
        input=f"{NEW_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert not opens_account(ada) and not opens_account(thief)


@pytest.mark.parametrize(
    "session_id", ["1", "abc", "1:", ":0", "1:0:0", "1:x", "٣:0", "1" * 11 + ":0", "1:-1", ""]
)
def test_a_malformed_session_id_is_anonymous_never_an_error(app, db, ada, session_id):
    assert opens_account(ada)
    with ada.client.session_transaction() as sess:  # keeps the session's identifier
        sess["_user_id"] = session_id
    assert not opens_account(ada)
    assert ada.client.get("/").status_code == 200


def test_an_outdated_session_version_opens_nothing(app, db, ada):
    user = db.scalar(select(User))
    with ada.client.session_transaction() as sess:
        assert sess["_user_id"] == f"{user.id}:{user.session_version}"
        sess["_user_id"] = f"{user.id}:{user.session_version + 1}"
    assert not opens_account(ada)
    with ada.client.session_transaction() as sess:
        sess["_user_id"] = f"{user.id}:{user.session_version}"
    assert opens_account(ada)


def test_the_session_id_carries_the_version_and_nothing_else_parses():
    from app.services.accounts import sessions

    assert sessions.parse("12:3") == (12, 3)
    for bad in ["12", "12:", "a:1", "1:2:3", "1:٣", None, "9" * 11 + ":1", " 1:2"]:
        assert sessions.parse(bad) is None, bad


def test_every_log_out_bumps_the_version_once(app, db, ada):
    first = version(db, "ada@example.com")
    ada.post("/logout")
    ada.post("/logout")  # already logged out: nothing more to end
    assert version(db, "ada@example.com") == first + 1
