"""The admin's audit log (every row: who, what, target, before/after, IP, time; filtered and
paged, newest first) and the owner's settings page (switches, each change audited), through
the browser, per role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.models import AuditLog, Role, ShopSetting
from app.services.admin import audit_log
from tests.admin_helpers import signed_in, text
from tests.conftest import Browser


def add_row(db, action: str, minutes_ago: int = 0, **fields) -> AuditLog:
    row = AuditLog(
        action=action,
        created_at=datetime.now(UTC) - timedelta(minutes=minutes_ago),
        **{"actor": "someone@example.com", "details": {}, **fields},
    )
    db.add(row)
    db.commit()
    return row


@pytest.mark.parametrize("url", ["/admin/audit", "/admin/settings"])
def test_a_visitor_and_a_customer_find_neither_page(app, db, url):
    customer = signed_in(app, Role.CUSTOMER)
    for client in (Browser(app.test_client()), customer):
        assert client.get(url).status_code == 404
        assert client.post("/admin/settings", {"daily_summary": "on"}).status_code == 404


# ---------------------------------------------------------------- audit


def test_the_audit_log_shows_who_what_target_before_after_and_ip(owner, staff, db):
    add_row(
        db,
        "setting.changed",
        actor="boss@example.com",
        subject_type="setting",
        details={"key": "daily_summary", "before": True, "after": False},
        ip="203.0.113.9",
    )
    for person in (owner, staff):
        page = text(person.get("/admin/audit"))
        row = page.split('data-audit="')[1].split("</tr>")[0]
        for shown in ("boss@example.com", "setting.changed", "setting", "true", "false"):
            assert shown in row
        assert "203.0.113.9" in row and "daily_summary" in row


def test_the_audit_log_filters_by_action_actor_and_target(owner, db):
    add_row(db, "order.shipped", actor="ann@example.com", subject_type="order", subject_id=7)
    add_row(db, "user.unlocked", actor="bob@example.com", subject_type="user", subject_id=8)

    def rows(query: str) -> str:
        return text(owner.get(f"/admin/audit?{query}")).split("<tbody>")[1]

    assert "ann@" in rows("action=order.shipped") and "bob@" not in rows("action=order.shipped")
    assert "bob@" in rows("actor=BOB") and "ann@" not in rows("actor=BOB")
    assert "ann@" in rows("subject_type=order&subject_id=7")
    assert "ann@" not in rows("subject_type=order&subject_id=8")
    assert "No entries match." in rows("action=nothing.like.this")
    fragment = owner.get("/admin/audit?actor=ann", headers={"HX-Request": "true"})
    assert "ann@" in text(fragment) and "<html" not in text(fragment)


def test_a_bad_target_id_is_a_400_that_says_why(owner, db):
    answer = owner.get("/admin/audit?subject_id=abc")
    assert answer.status_code == 400 and "must be a number" in text(answer)


def test_the_audit_log_is_newest_first_and_paged(owner, db):
    for n in range(audit_log.PER_PAGE + 5):
        add_row(db, "test.row", minutes_ago=1000 - n, actor=f"n{n:03d}@example.com")
    first = text(owner.get("/admin/audit?action=test.row"))
    newest = f"n{audit_log.PER_PAGE + 4:03d}@"
    assert newest in first and "n000@" not in first
    assert first.index(newest) < first.index(f"n{audit_log.PER_PAGE:03d}@")
    assert "Page 1 of 2" in first
    second = text(owner.get("/admin/audit?action=test.row&page=2"))
    assert "n000@" in second and newest not in second


def test_admin_actions_land_in_the_log_with_the_person_and_ip(owner, db):
    owner.post("/admin/settings", {})  # every switch off
    page = text(owner.get("/admin/audit?action=setting.changed"))
    assert "owner@example.com" in page and "127.0.0.1" in page


# ---------------------------------------------------------------- settings


def test_staff_are_refused_the_settings_and_see_no_link(staff, db):
    assert staff.get("/admin/settings").status_code == 403
    assert staff.post("/admin/settings", {}).status_code == 403
    assert 'href="/admin/settings"' not in text(staff.get("/admin"))
    assert db.scalar(select(ShopSetting)) is None


def test_the_owner_switches_settings_once_each_with_before_and_after(owner, db):
    page = text(owner.get("/admin/settings"))
    assert 'name="daily_summary" checked' in page and 'href="/admin/settings"' in page
    keep_on = {
        "notify_new_order": "on",
        "notify_low_stock": "on",
        "notify_failures": "on",
        "notify_alerts": "on",
    }
    first = owner.post("/admin/settings", keep_on)
    assert first.status_code == 303
    assert "1 setting(s) changed" in text(owner.get(first.headers["Location"]))
    second = owner.post("/admin/settings", keep_on)
    assert "Nothing changed." in text(owner.get(second.headers["Location"]))
    (entry,) = db.scalars(select(AuditLog).where(AuditLog.action == "setting.changed"))
    assert entry.details == {"key": "daily_summary", "before": True, "after": False}
    assert 'name="daily_summary" >' in text(owner.get("/admin/settings"))


def test_settings_without_a_csrf_token_are_refused(owner, db):
    assert owner.client.post("/admin/settings", data={}).status_code == 400
    assert db.scalar(select(ShopSetting)) is None


# ---------------------------------------------------------------- health


def test_the_health_page_shows_every_part(owner, staff, db):
    from app.models import SweepRun

    db.add(SweepRun(expired_count=3, batches=1, trigger="rq", finished_at=datetime.now(UTC)))
    db.commit()
    for person in (owner, staff):
        page = text(person.get("/admin/health"))
        assert 'data-health="healthy"' in page
        for part in ("database", "redis", "migrations", "queue", "sweeper", "outbox", "memory"):
            assert f'data-check="{part}"' in page
        assert "up to date (revision" in page
        assert "3 holds expired" in page and "0 pending, 0 sending, 0 failed" in page
        assert "MB at peak" in page and "Holdfast 0.1.0" in page
        assert 'href="/admin/health"' in page


def test_the_health_page_counts_the_queue_with_redis(app, db, redis_url):
    app.config["REDIS_URL"] = redis_url
    owner = signed_in(app, Role.OWNER)
    page = text(owner.get("/admin/health"))
    assert "waiting in “default”" in page


@pytest.mark.parametrize("url", ["/admin/health"])
def test_a_visitor_and_a_customer_find_no_health_page(app, db, url):
    assert app.test_client().get(url).status_code == 404
    assert signed_in(app, Role.CUSTOMER).get(url).status_code == 404
