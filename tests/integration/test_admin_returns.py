"""The returns queue in the admin, through the pages: requested returns first, filtered by
state; received and restocked (refunded, units back, back-orders filled), received damaged and
written off (refunded, nothing back in stock), or refused with a reason the shopper is emailed.
Each decision once however often it is clicked, audited, for staff and owners only."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import (
    AuditLog,
    OrderStatus,
    OutboxMessage,
    Refund,
    Return,
    ReturnState,
    Role,
    Variant,
)
from app.models import Order as OrderRow
from app.services.orders import aftersales
from app.services.orders.order_book import OrderLinks
from tests.admin_helpers import signed_in, text
from tests.checkout_helpers import buy
from tests.factories import variant_with_stock


@pytest.fixture
def requested(app, browser, db) -> Return:
    """A shipped order of three tees (price 20.00) with a return of two requested."""
    tee = variant_with_stock(db, 10, price_cents=2000)
    buy(browser, tee, 3, email="buyer@example.com")
    order = db.scalar(select(OrderRow))
    links = OrderLinks.from_config(app.config)
    session = app.extensions["holdfast.db"].session_factory()
    try:
        aftersales.ship_order(
            session, order.number, carrier="DHL", tracking="T1", actor="t", links=links
        )
        line_id = order.lines[0].id
        ret = aftersales.request_return(
            session, order.number, line_id, 2, "too <b>small</b>", actor="t"
        )
        return db.get(Return, ret.id)
    finally:
        session.close()


def on_hand(db, ret: Return) -> int:
    db.expire_all()
    return db.get(Variant, db.get(Return, ret.id).line.variant_id).on_hand


def decided(db, ret: Return) -> Return:
    db.expire_all()
    return db.get(Return, ret.id)


def count(db, model, *where) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where))


ACTIONS = ["restock", "write-off", "refuse"]


def test_visitors_and_customers_find_no_returns_page(app, db, requested):
    customer = signed_in(app, Role.CUSTOMER)
    for person in (app.test_client(), customer.client):
        assert person.get("/admin/returns").status_code == 404
    for action in ACTIONS:
        assert customer.post(f"/admin/returns/{requested.id}/{action}", {}).status_code == 404
    assert decided(db, requested).state is ReturnState.REQUESTED


def test_the_queue_lists_requested_returns_with_order_line_quantity_and_reason(
    staff, requested, db
):
    page = text(staff.get("/admin/returns"))
    number = db.scalar(select(OrderRow.number))
    assert f'data-return="{requested.id}" data-state="requested"' in page
    assert number in page and "too &lt;b&gt;small&lt;/b&gt;" in page
    assert "Received: restock" in page and "hx-confirm" in page
    assert f'data-return="{requested.id}"' not in text(staff.get("/admin/returns?state=refused"))
    fragment = staff.get("/admin/returns?state=requested", headers={"HX-Request": "true"})
    assert f'data-return="{requested.id}"' in text(fragment) and "<html" not in text(fragment)
    assert staff.get("/admin/returns?state=lost").status_code == 400


def test_the_dashboard_count_links_to_the_queue(owner, requested):
    page = text(owner.get("/admin"))
    assert 'href="/admin/returns?state=requested"' in page


def test_restock_refunds_puts_units_back_and_a_double_click_does_it_once(staff, requested, db):
    before = on_hand(db, requested)
    first = staff.post(f"/admin/returns/{requested.id}/restock", {})
    second = staff.post(f"/admin/returns/{requested.id}/restock", {})
    assert first.status_code == second.status_code == 303
    assert "received and back in stock" in text(staff.get("/admin/returns"))
    ret = decided(db, requested)
    assert (ret.state, ret.decision) == (ReturnState.RECEIVED, "restocked")
    assert ret.decided_by.endswith("@example.com") and ret.decided_at is not None
    assert on_hand(db, requested) == before + 2
    assert count(db, Refund) == 1 and db.scalar(select(Refund.amount_cents)) == 4000
    assert count(db, AuditLog, AuditLog.action == "return.restocked") == 1
    assert count(db, OutboxMessage, OutboxMessage.template == "return_received") == 1


def test_write_off_refunds_but_puts_nothing_back(owner, requested, db):
    before = on_hand(db, requested)
    assert owner.post(f"/admin/returns/{requested.id}/write-off", {}).status_code == 303
    owner.post(f"/admin/returns/{requested.id}/write-off", {})
    ret = decided(db, requested)
    assert (ret.state, ret.decision) == (ReturnState.RECEIVED, "written_off")
    assert on_hand(db, requested) == before
    assert count(db, Refund) == 1 and db.scalar(select(Refund.restock)) is False
    assert count(db, AuditLog, AuditLog.action == "return.written_off") == 1
    page = text(owner.get("/admin/returns?state=received"))
    assert "written off" in page


def test_refusing_tells_the_shopper_why_and_refunds_nothing(staff, requested, db):
    answer = staff.post(f"/admin/returns/{requested.id}/refuse", {"reason": "Worn & washed"})
    assert answer.status_code == 303
    staff.post(f"/admin/returns/{requested.id}/refuse", {"reason": "again"})
    ret = decided(db, requested)
    assert (ret.state, ret.decision, ret.decision_reason) == (
        ReturnState.REFUSED,
        "refused",
        "Worn & washed",
    )
    assert count(db, Refund) == 0
    email = db.scalar(select(OutboxMessage).where(OutboxMessage.template == "return_refused"))
    assert email.to_address == "buyer@example.com" and email.context["reason"] == "Worn & washed"
    assert count(db, OutboxMessage, OutboxMessage.template == "return_refused") == 1
    entry = db.scalar(select(AuditLog).where(AuditLog.action == "return.refused"))
    assert entry.subject_id == ret.id and entry.details["reason"] == "Worn & washed"
    page = text(staff.get("/admin/returns"))
    assert "Worn &amp; washed" in page and "is refused; the shopper is emailed why" in page
    order = db.get(OrderRow, ret.order_id)
    db.refresh(order)
    assert order.status is OrderStatus.SHIPPED  # no return waits any more


def test_a_refusal_needs_a_reason_and_a_decided_return_stays_decided(staff, requested, db):
    staff.post(f"/admin/returns/{requested.id}/refuse", {"reason": "  "})
    assert "Say why the return is refused" in text(staff.get("/admin/returns"))
    assert decided(db, requested).state is ReturnState.REQUESTED
    staff.post(f"/admin/returns/{requested.id}/refuse", {"reason": "worn"})
    staff.post(f"/admin/returns/{requested.id}/restock", {})
    assert decided(db, requested).decision == "refused" and count(db, Refund) == 0


def test_a_decision_without_csrf_or_for_no_return_changes_nothing(owner, requested, db):
    assert owner.client.post(f"/admin/returns/{requested.id}/restock").status_code == 400
    assert owner.client.post(f"/admin/returns/{requested.id}/refuse").status_code == 400
    assert decided(db, requested).state is ReturnState.REQUESTED
    owner.post("/admin/returns/999999/restock", {})
    assert "No such return" in text(owner.get("/admin/returns"))
    assert db.scalar(select(OrderRow.status)) is OrderStatus.RETURN_REQUESTED
