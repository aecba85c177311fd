"""The owner's admin, through the pages: who may see it, the dashboard's counts and figures,
the order desk (filters, one order's timeline) and its actions (ship, cancel, refund, retry
fulfilment), each authorised by role on the server, CSRF-protected and audited."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.models import AuditLog, OrderStatus, OutboxMessage, Payment, Refund, Role
from app.models import Order as OrderRow
from tests.admin_helpers import PASSWORD, signed_in, text
from tests.checkout_helpers import buy
from tests.conftest import Browser
from tests.factories import UserFactory, variant_with_stock


@pytest.fixture
def sold(browser, db) -> OrderRow:
    """A paid order of two physical units, bought through the shop's pages."""
    tee = variant_with_stock(db, 10, price_cents=2000)
    buy(browser, tee, 2, email="buyer@example.com")
    return db.scalar(select(OrderRow))


ADMIN_URLS = ["/admin", "/admin/orders", "/admin/orders/HF-NOPE"]


@pytest.mark.parametrize("url", ADMIN_URLS)
def test_a_visitor_and_a_customer_find_no_admin_at_all(app, db, url):
    assert app.test_client().get(url).status_code == 404
    customer = signed_in(app, Role.CUSTOMER)
    assert customer.get(url).status_code == 404
    assert "Admin" not in text(customer.get("/"))


def test_an_owner_lands_on_the_admin_after_logging_in(app, db):
    person = UserFactory(role=Role.OWNER)
    browser = Browser(app.test_client())
    browser.get("/login")
    answer = browser.post("/login", {"email": person.email, "password": PASSWORD})
    assert answer.headers["Location"].endswith("/admin")
    assert "open the admin" in text(browser.get("/account"))


def test_staff_and_owners_get_the_dashboard_and_a_header_link(owner, staff):
    for person in (owner, staff):
        page = person.get("/admin")
        assert page.status_code == 200
        assert "What needs you today" in text(page)
        assert 'href="/admin"' in text(person.get("/"))


def test_the_dashboard_counts_what_needs_doing_and_sums_the_sales(owner, sold, db):
    page = text(owner.get("/admin"))
    assert '<li data-todo="to_ship" class="todo-some">' in page
    assert '<strong class="count">1</strong> Orders to ship' in page
    assert "$40.00" in page  # revenue today and over 30 days
    assert "<svg" in page and "Revenue per day" in page
    assert sold.status is OrderStatus.PAID


def test_the_order_list_filters_by_status_to_ship_and_search(owner, sold, db):
    assert sold.number in text(owner.get("/admin/orders"))
    assert sold.number in text(owner.get("/admin/orders?to_ship=1"))
    assert sold.number in text(owner.get("/admin/orders?q=BUYER@example"))
    assert sold.number not in text(owner.get("/admin/orders?q=nobody"))
    assert sold.number not in text(owner.get("/admin/orders?status=shipped"))
    day = sold.created_at.date().isoformat()
    assert sold.number in text(owner.get(f"/admin/orders?day={day}"))
    fragment = owner.get("/admin/orders?status=paid", headers={"HX-Request": "true"})
    assert sold.number in text(fragment) and "<html" not in text(fragment)


@pytest.mark.parametrize("query", ["status=lost", "day=yesterday", "day=2026-13-40"])
def test_a_bad_filter_is_a_400_that_says_why(owner, query):
    answer = owner.get(f"/admin/orders?{query}")
    assert answer.status_code == 400
    assert "status" in text(answer) or "YYYY-MM-DD" in text(answer)


def test_an_order_page_tells_its_whole_story(owner, sold):
    page = text(owner.get(f"/admin/orders/{sold.number}"))
    for source in ("order", "checkout", "payment", "email"):
        assert f'data-source="{source}"' in page
    assert "buyer@example.com" in page and "Mark shipped" in page
    email = page.split('data-source="email"')[1].split("</li>")[0]
    message = owner.get(email.split('href="')[1].split('"')[0])
    assert message.status_code == 200 and "Send again" in text(message)


def test_shipping_emails_the_shopper_and_leaves_an_audit_row(owner, sold, db):
    answer = owner.post(
        f"/admin/orders/{sold.number}/ship", {"carrier": "DHL", "tracking": "JD0001"}
    )
    assert answer.status_code == 303
    db.expire_all()
    order = db.get(OrderRow, sold.id)
    assert (order.status, order.carrier, order.tracking_number) == (
        OrderStatus.SHIPPED,
        "DHL",
        "JD0001",
    )
    assert db.scalar(select(OutboxMessage).where(OutboxMessage.template == "shipped"))
    entry = db.scalar(select(AuditLog).where(AuditLog.action == "order.shipped"))
    assert entry.actor.endswith("@example.com") and entry.subject_id == sold.id
    assert entry.ip == "127.0.0.1" and entry.actor_id is not None
    page = text(owner.get(f"/admin/orders/{sold.number}"))
    assert "Shipped" in page and "order.shipped by" in page


def test_an_order_offers_only_what_can_be_done_to_it_now(owner, sold, db):
    page = text(owner.get(f"/admin/orders/{sold.number}"))
    assert "Mark shipped" in page and "Cancel order" in page and "up to $40.00" in page
    owner.post(f"/admin/orders/{sold.number}/ship", {"carrier": "DHL", "tracking": "JD1"})
    shipped = text(owner.get(f"/admin/orders/{sold.number}"))
    assert "Mark shipped" not in shipped and "Cancel order" not in shipped
    assert "Retry fulfilment" not in shipped and "up to $40.00" in shipped


def test_shipping_without_a_tracking_number_changes_nothing(owner, sold, db):
    answer = owner.post(f"/admin/orders/{sold.number}/ship", {"carrier": "DHL", "tracking": ""})
    assert answer.status_code == 303
    assert "Enter the tracking number." in text(owner.get(answer.headers["Location"]))
    db.expire_all()
    assert db.get(OrderRow, sold.id).status is OrderStatus.PAID


def test_an_action_without_its_csrf_token_is_refused(app, owner, sold, db):
    client: FlaskClient = owner.client
    answer = client.post(
        f"/admin/orders/{sold.number}/ship", data={"carrier": "DHL", "tracking": "X"}
    )
    assert answer.status_code == 400
    db.expire_all()
    assert db.get(OrderRow, sold.id).status is OrderStatus.PAID


def test_the_owner_refunds_part_and_a_double_click_refunds_once(owner, sold, db):
    page = text(owner.get(f"/admin/orders/{sold.number}"))
    key = page.split('name="key" type="hidden" value="')[1].split('"')[0]
    form = {"amount": "12.50", "reason": "scratched", "key": key}
    first = owner.post(f"/admin/orders/{sold.number}/refund", form)
    second = owner.post(f"/admin/orders/{sold.number}/refund", form)
    assert first.status_code == second.status_code == 303
    assert db.scalar(select(func.count()).select_from(Refund)) == 1
    assert db.scalar(select(Payment.refunded_cents)) == 1250
    db.expire_all()
    assert db.get(OrderRow, sold.id).status is OrderStatus.PARTIALLY_REFUNDED
    assert db.scalar(select(AuditLog).where(AuditLog.action == "order.refunded"))


@pytest.mark.parametrize("amount", ["12.505", "abc", "-3", "99999"])
def test_a_bad_refund_amount_is_a_form_error_and_refunds_nothing(owner, sold, db, amount):
    page = text(owner.get(f"/admin/orders/{sold.number}"))
    key = page.split('name="key" type="hidden" value="')[1].split('"')[0]
    answer = owner.post(
        f"/admin/orders/{sold.number}/refund", {"amount": amount, "reason": "x", "key": key}
    )
    assert answer.status_code == 303
    flashed = text(owner.get(answer.headers["Location"]))
    assert "flash-error" in flashed
    assert db.scalar(select(Payment.refunded_cents)) == 0


def test_staff_cannot_refund_and_are_not_offered_to(staff, sold, db):
    page = text(staff.get(f"/admin/orders/{sold.number}"))
    assert "/refund" not in page
    answer = staff.post(
        f"/admin/orders/{sold.number}/refund", {"amount": "5", "reason": "x", "key": "k" * 32}
    )
    assert answer.status_code == 403
    assert "Only the shop&#39;s owner can do that." in text(answer)
    assert db.scalar(select(func.count()).select_from(Refund)) == 0


def test_staff_cancel_an_order_and_it_is_refunded_in_full(staff, sold, db):
    answer = staff.post(f"/admin/orders/{sold.number}/cancel", {"reason": "out of business"})
    assert answer.status_code == 303
    db.expire_all()
    assert db.get(OrderRow, sold.id).status is OrderStatus.CANCELLED
    assert db.scalar(select(Payment.refunded_cents)) == 4000
    assert db.scalar(select(AuditLog).where(AuditLog.action == "order.cancelled"))


def test_retrying_fulfilment_is_audited_and_says_what_it_did(owner, sold, db):
    answer = owner.post(f"/admin/orders/{sold.number}/retry-fulfilment")
    assert "Nothing more of order" in text(owner.get(answer.headers["Location"]))
    assert db.scalar(select(AuditLog).where(AuditLog.action == "order.fulfilment_retried"))


def test_an_unknown_order_is_a_404(owner):
    assert owner.get("/admin/orders/HF-NOPE").status_code == 404
    assert owner.post("/admin/orders/HF-NOPE/retry-fulfilment").status_code == 404
