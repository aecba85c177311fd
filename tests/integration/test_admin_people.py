"""The admin's people pages, through the browser: failed log-ins (throttled pairs; clearing),
and the owner's staff page (invite by email, change a role, deactivate, reactivate), each
authorised on the server (staff 403 on the staff page, customers and visitors 404),
CSRF-protected, idempotent and audited; the shop always keeps one active owner."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import AuditLog, OutboxMessage, Role, User
from tests.account_helpers import make_them_wait
from tests.admin_helpers import PASSWORD, signed_in, text
from tests.conftest import Browser
from tests.factories import UserFactory


def user(db, email: str) -> User:
    db.expire_all()
    return db.scalar(select(User).where(User.email == email))


def audit_rows(db, action: str) -> list[AuditLog]:
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


def flashed(browser: Browser, answer) -> str:
    assert answer.status_code == 303, text(answer)
    return text(browser.get(answer.headers["Location"]))


PAGES = ["/admin/security", "/admin/staff"]
POSTS = [
    "/admin/security/throttles/clear",
    "/admin/staff/invite",
    "/admin/staff/1/role",
    "/admin/staff/1/deactivate",
    "/admin/staff/1/reactivate",
]


@pytest.mark.parametrize("url", PAGES + POSTS)
def test_a_visitor_and_a_customer_find_none_of_it(app, db, url):
    customer = signed_in(app, Role.CUSTOMER)
    for client in (Browser(app.test_client()), customer):
        answer = client.get(url) if url in PAGES else client.post(url, {"role": "owner"})
        assert answer.status_code == 404


@pytest.mark.parametrize("url", POSTS)
def test_every_action_without_its_csrf_token_is_refused(owner, db, url):
    answer = owner.client.post(url, data={"email": "x@example.com", "role": "owner"})
    assert answer.status_code == 400


# ---------------------------------------------------------------- security


def fail_to_log_in(app, email: str, times: int, address: str = "203.0.113.5") -> Browser:
    visitor = Browser(app.test_client())
    visitor.client.environ_base["REMOTE_ADDR"] = address
    for _ in range(times):
        visitor.get("/login")
        visitor.post("/login", {"email": email, "password": "wrong password!"})
    return visitor


def stat(page: str, name: str) -> int:
    import re

    return int(re.search(rf'data-stat="{name}">(\d+)<', page).group(1))


def test_the_security_page_counts_failed_log_ins_and_names_no_one(app, owner, staff, db):
    app.config["RATELIMIT_ENABLED"] = False
    UserFactory(email="tries@example.com")
    fail_to_log_in(app, "tries@example.com", 6)  # five free, the sixth starts a wait
    fail_to_log_in(app, "nobody@example.com", 2, address="198.51.100.1")
    make_them_wait(db)
    for person in (owner, staff):
        page = text(person.get("/admin/security"))
        assert (stat(page, "pairs"), stat(page, "failures"), stat(page, "waiting")) == (2, 8, 1)
        assert "tries@example.com" not in page and "nobody@example.com" not in page
        assert "Locked" not in page and "No account is ever locked" in page


def test_clearing_the_waits_lets_the_person_log_in_at_once_and_is_audited_once(app, staff, db):
    app.config["RATELIMIT_ENABLED"] = False
    UserFactory(email="tries@example.com")
    visitor = fail_to_log_in(app, "tries@example.com", 6)
    make_them_wait(db)
    visitor.get("/login")
    refused = visitor.post("/login", {"email": "tries@example.com", "password": PASSWORD})
    assert refused.status_code == 401 and "Wait a moment" in text(refused)

    first = staff.post("/admin/security/throttles/clear")
    assert "cleared for 1" in flashed(staff, first)
    second = staff.post("/admin/security/throttles/clear")
    assert "no failed log-ins to clear" in flashed(staff, second)
    (entry,) = audit_rows(db, "login_throttles.cleared")
    assert entry.actor == "staff@example.com" and entry.details["pairs"] == 1
    assert entry.details["before"] == {"waiting": 1, "failures": 6}
    assert entry.ip == "127.0.0.1"

    visitor.get("/login")
    logged = visitor.post("/login", {"email": "tries@example.com", "password": PASSWORD})
    assert logged.status_code == 303


# ---------------------------------------------------------------- staff: who may


def test_staff_are_refused_the_staff_page_and_every_action_and_see_no_link(staff, db):
    other = UserFactory(email="other@example.com", role=Role.STAFF)
    assert staff.get("/admin/staff").status_code == 403
    assert 'href="/admin/staff"' not in text(staff.get("/admin"))
    assert staff.post("/admin/staff/invite", {"email": "new@example.com"}).status_code == 403
    assert staff.post(f"/admin/staff/{other.id}/role", {"role": "owner"}).status_code == 403
    assert staff.post(f"/admin/staff/{other.id}/deactivate").status_code == 403
    assert user(db, "new@example.com") is None
    assert user(db, "other@example.com").active
    assert user(db, "staff@example.com").role is Role.STAFF


def test_the_owner_sees_staff_and_owners_but_not_customers(owner, db):
    UserFactory(email="helper@example.com", role=Role.STAFF)
    UserFactory(email="buyer@example.com")
    page = text(owner.get("/admin/staff"))
    assert "owner@example.com" in page and "helper@example.com" in page
    assert "buyer@example.com" not in page
    assert 'href="/admin/staff"' in text(owner.get("/admin"))


# ---------------------------------------------------------------- staff: invite


def invite_link(db, email: str) -> str:
    message = db.scalar(
        select(OutboxMessage).where(
            OutboxMessage.template == "staff_invite", OutboxMessage.to_address == email
        )
    )
    return message.context["invite_link"]


def test_an_invited_person_sets_a_password_and_runs_the_shop_as_staff(app, owner, db):
    answer = owner.post("/admin/staff/invite", {"email": "New.Hire@Example.com"})
    assert "new.hire@example.com is invited" in flashed(owner, answer)
    again = owner.post("/admin/staff/invite", {"email": "new.hire@example.com"})
    assert "already on the staff" in flashed(owner, again)
    hire = user(db, "new.hire@example.com")
    assert hire.role is Role.STAFF and hire.active
    (entry,) = audit_rows(db, "staff.invited")
    assert entry.details["before"] is None and entry.details["after"]["role"] == "staff"
    assert len(list(db.scalars(select(OutboxMessage)))) == 1

    # No password works before the link is used.
    newcomer = Browser(app.test_client())
    newcomer.get("/login")
    tried = newcomer.post("/login", {"email": hire.email, "password": "!invited"})
    assert tried.status_code not in (302, 303)
    path = invite_link(db, hire.email).split("://", 1)[1].split("/", 1)[1]
    newcomer.get(f"/{path}")
    chosen = newcomer.post(
        f"/{path}", {"password": "a new long password", "confirm": "a new long password"}
    )
    assert chosen.status_code == 303
    newcomer.get("/login")
    logged = newcomer.post("/login", {"email": hire.email, "password": "a new long password"})
    assert logged.status_code in (302, 303)
    assert newcomer.get("/admin").status_code == 200
    assert newcomer.get("/admin/staff").status_code == 403


def test_inviting_a_customer_promotes_them(owner, db):
    buyer = UserFactory(email="buyer@example.com")
    answer = owner.post("/admin/staff/invite", {"email": buyer.email})
    assert "buyer@example.com is made staff" in flashed(owner, answer)
    assert user(db, buyer.email).role is Role.STAFF
    (entry,) = audit_rows(db, "staff.invited")
    assert entry.details["before"] == {"role": "customer", "active": True}


@pytest.mark.parametrize("email", ["", "not-an-email", "x" * 300 + "@example.com"])
def test_a_bad_invitation_is_a_form_error_and_creates_nobody(owner, db, email):
    answer = owner.post("/admin/staff/invite", {"email": email})
    assert 'class="flash flash-error"' in flashed(owner, answer)
    assert db.scalar(select(OutboxMessage)) is None
    assert not audit_rows(db, "staff.invited")


# ---------------------------------------------------------------- staff: roles and activity


def test_the_owner_changes_a_role_once_with_before_and_after(owner, db):
    helper = UserFactory(email="helper@example.com", role=Role.STAFF)
    for _ in range(2):
        owner.post(f"/admin/staff/{helper.id}/role", {"role": "owner"})
    assert user(db, helper.email).role is Role.OWNER
    (entry,) = audit_rows(db, "staff.role_changed")
    assert (entry.details["before"], entry.details["after"]) == ("staff", "owner")
    # Two owners now: the first may step down to staff.
    me = user(db, "owner@example.com")
    answer = owner.post(f"/admin/staff/{me.id}/role", {"role": "staff"})
    assert answer.status_code == 303
    assert user(db, me.email).role is Role.STAFF


def test_a_made_up_role_is_refused(owner, db):
    helper = UserFactory(email="helper@example.com", role=Role.STAFF)
    answer = owner.post(f"/admin/staff/{helper.id}/role", {"role": "king"})
    assert "Choose customer, staff or owner." in flashed(owner, answer)
    assert user(db, helper.email).role is Role.STAFF


def test_the_last_owner_can_be_neither_demoted_nor_deactivated(owner, db):
    me = user(db, "owner@example.com")
    demoted = owner.post(f"/admin/staff/{me.id}/role", {"role": "customer"})
    assert "only active owner" in flashed(owner, demoted)
    deactivated = owner.post(f"/admin/staff/{me.id}/deactivate")
    assert "only active owner" in flashed(owner, deactivated)
    row = user(db, me.email)
    assert row.role is Role.OWNER and row.active
    assert not audit_rows(db, "staff.role_changed") and not audit_rows(db, "staff.deactivated")


def test_a_deactivated_person_is_signed_out_at_once_until_reactivated(app, owner, staff, db):
    helper = user(db, "staff@example.com")
    assert staff.get("/admin").status_code == 200
    answer = owner.post(f"/admin/staff/{helper.id}/deactivate")
    assert "deactivated" in flashed(owner, answer)
    assert staff.get("/admin").status_code == 404  # their session no longer works
    assert not user(db, helper.email).active
    (entry,) = audit_rows(db, "staff.deactivated")
    assert entry.details == {
        "email": "staff@example.com",
        "before": {"active": True},
        "after": {"active": False},
    }
    assert "deactivated" in text(owner.get("/admin/staff"))

    owner.post(f"/admin/staff/{helper.id}/reactivate")
    assert user(db, helper.email).active and audit_rows(db, "staff.reactivated")
    again = signed_in_as(app, helper.email)
    assert again.get("/admin").status_code == 200


def signed_in_as(app, email: str) -> Browser:
    browser = Browser(app.test_client())
    browser.get("/login")
    answer = browser.post("/login", {"email": email, "password": PASSWORD})
    assert answer.status_code in (302, 303)
    return browser


def test_acting_on_nobody_is_a_404(owner, db):
    assert owner.post("/admin/staff/999999/role", {"role": "staff"}).status_code == 404
    assert owner.post("/admin/staff/999999/deactivate").status_code == 404


def test_two_owners_demoting_each_other_at_once_leave_one_owner(app, db):
    import threading

    from app.services.admin import people
    from app.services.errors import Conflict

    ann = UserFactory(email="ann@example.com", role=Role.OWNER)
    bob = UserFactory(email="bob@example.com", role=Role.OWNER)
    factory = app.extensions["holdfast.db"].session_factory
    start, outcomes = threading.Barrier(2), []

    def demote(target: int, by: str) -> None:
        with factory() as session:
            start.wait()
            try:
                outcomes.append(people.change_role(session, target, Role.STAFF, actor=by))
            except Conflict:
                outcomes.append("refused")

    threads = [
        threading.Thread(target=demote, args=(bob.id, ann.email)),
        threading.Thread(target=demote, args=(ann.id, bob.email)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(map(str, outcomes)) == ["True", "refused"]
    roles = {user(db, e).role for e in (ann.email, bob.email)}
    assert roles == {Role.OWNER, Role.STAFF}
