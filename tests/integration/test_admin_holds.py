"""Holds in the admin, through the pages: live and expired counts, the live holds with time
left, releasing one by hand (its checkout is cancelled properly, never left pointing at a
released hold), "Run cleanup now" and what the sweeper did, for staff and owners only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.models import (
    AuditLog,
    Checkout,
    CheckoutEvent,
    CheckoutState,
    HoldState,
    Reservation,
    Role,
    SweepRun,
)
from app.services.stock import holds
from tests.admin_helpers import signed_in, text
from tests.checkout_helpers import checkout_path, fill_cart, start_checkout
from tests.factories import variant_with_stock


@pytest.fixture
def tee(db):
    return variant_with_stock(db, 10, price_cents=2000)


@pytest.fixture
def checking_out(browser, tee, db) -> Checkout:
    """A shopper in the middle of a checkout of two tees (a live hold)."""
    fill_cart(browser, (tee, 2))
    checkout_path(start_checkout(browser, email="lin@example.com"))
    return db.scalar(select(Checkout))


def service_session(app):
    return app.extensions["holdfast.db"].session_factory()


@pytest.fixture
def orphan(app, tee) -> str:
    """A live hold with no checkout (taken by hand)."""
    session = service_session(app)
    try:
        return holds.take_hold(session, [(tee.id, 1)], ttl_minutes=15).ref
    finally:
        session.close()


@pytest.fixture
def expired(app, tee) -> str:
    session = service_session(app)
    try:
        past = datetime.now(UTC) - timedelta(hours=1)
        return holds.take_hold(session, [(tee.id, 3)], ttl_minutes=1, now=past).ref
    finally:
        session.close()


def state_of(db, ref: str) -> HoldState:
    db.expire_all()
    return db.scalar(select(Reservation.state).where(Reservation.hold_ref == ref))


def test_visitors_and_customers_find_no_holds_page(app, db, orphan):
    customer = signed_in(app, Role.CUSTOMER)
    for person in (app.test_client(), customer.client):
        assert person.get("/admin/holds").status_code == 404
    assert customer.post(f"/admin/holds/{orphan}/release", {}).status_code == 404
    assert customer.post("/admin/holds/cleanup", {}).status_code == 404
    assert state_of(db, orphan) is HoldState.ACTIVE
    assert db.scalar(select(func.count()).select_from(SweepRun)) == 0


def test_the_page_counts_live_and_expired_and_lists_live_holds_with_time_left(
    staff, checking_out, orphan, expired, tee
):
    page = text(staff.get("/admin/holds"))
    assert "<strong>2</strong> live hold rows · <strong>1</strong> expired" in page
    assert f'data-hold="{checking_out.hold_ref}"' in page and f'data-hold="{orphan}"' in page
    assert f'data-hold="{expired}"' not in page
    assert "lin@example.com" in page and f"2 × {tee.sku}" in page and " min " in page
    assert "The sweeper has never run." in page and "hx-confirm" in page


def test_releasing_a_checkouts_hold_cancels_the_checkout_once(staff, checking_out, db):
    ref = checking_out.hold_ref
    first = staff.post(f"/admin/holds/{ref}/release", {})
    second = staff.post(f"/admin/holds/{ref}/release", {})
    assert first.status_code == second.status_code == 303
    assert state_of(db, ref) is HoldState.RELEASED
    checkout = db.get(Checkout, checkout_id := checking_out.id)
    assert checkout.state is CheckoutState.CANCELLED and checkout.active_cart_id is None
    events = db.scalars(select(CheckoutEvent).where(CheckoutEvent.checkout_id == checkout_id))
    assert any("the shop released the hold" in (e.message or "") for e in events)
    entries = db.scalars(select(AuditLog).where(AuditLog.action == "hold.released")).all()
    assert len(entries) == 1
    assert entries[0].details["checkout_cancelled"] == checkout.public_id
    assert (entries[0].details["before"], entries[0].details["after"]) == ("active", "released")
    page = text(staff.get("/admin/holds"))
    assert "was already released" in page and f'data-hold="{ref}"' not in page


def test_releasing_a_hold_with_no_checkout(owner, orphan, db):
    assert owner.post(f"/admin/holds/{orphan}/release", {}).status_code == 303
    assert state_of(db, orphan) is HoldState.RELEASED
    assert "is released" in text(owner.get("/admin/holds"))


def test_releasing_an_unknown_or_expired_hold_changes_nothing(staff, expired, db):
    staff.post("/admin/holds/nope/release", {})
    assert "There is no such hold." in text(staff.get("/admin/holds"))
    staff.post(f"/admin/holds/{expired}/release", {})
    assert "was already expired" in text(staff.get("/admin/holds"))
    assert state_of(db, expired) is HoldState.ACTIVE  # not swept yet, and not released
    assert db.scalar(select(func.count()).where(AuditLog.action.like("hold%"))) == 0


def test_run_cleanup_now_sweeps_and_says_what_it_did(owner, expired, orphan, db):
    assert owner.post("/admin/holds/cleanup", {}).status_code == 303
    page = text(owner.get("/admin/holds"))
    assert "1 hold(s) marked expired" in page
    assert "(admin):" in page and "1 hold row expired in 1 batch." in page
    assert state_of(db, expired) is HoldState.EXPIRED and state_of(db, orphan) is HoldState.ACTIVE
    owner.post("/admin/holds/cleanup", {})
    assert "0 hold(s) marked expired" in text(owner.get("/admin/holds"))
    runs = db.scalars(select(SweepRun).order_by(SweepRun.id)).all()
    assert [(r.trigger, r.expired_count) for r in runs] == [("admin", 1), ("admin", 0)]
    entry = db.scalar(select(AuditLog).where(AuditLog.action == "holds.cleanup").limit(1))
    assert entry.subject_id == runs[0].id and entry.details["holds_expired"] == 1


def test_actions_without_csrf_are_refused(owner, orphan, db):
    assert owner.client.post(f"/admin/holds/{orphan}/release").status_code == 400
    assert owner.client.post("/admin/holds/cleanup").status_code == 400
    assert state_of(db, orphan) is HoldState.ACTIVE
