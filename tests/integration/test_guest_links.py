"""Guest order links, through the pages: a link from an order's emails opens it for
GUEST_LINK_DAYS and not after; the shop withdraws an order's links from its admin page; an
expired, withdrawn, forged or old-format link leads to a page that offers a new one, and
"send me a new link" answers the same whether or not the order and email match. Someone who
came only through a link types the order's email before cancelling or returning; the
account and the browser that checked out are not asked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select

from app import clock
from app.models import AuditLog, OrderStatus, OutboxMessage, OutboxState, Refund, Return, Role
from app.models import Order as OrderRow
from app.services.mail import outbox as mailer
from app.services.orders import aftersales
from app.services.orders import order_book as orders
from tests.admin_helpers import PASSWORD, signed_in, text
from tests.checkout_helpers import buy
from tests.conftest import Browser, make_test_app
from tests.factories import UserFactory, variant_with_stock

DAYS = 30
EMAIL = "Ada.Lovelace@example.com"
NEW_LINK = "If that order and email match, we have sent a new link to that address."


@pytest.fixture
def app(database_url):
    app = make_test_app(database_url, GUEST_LINK_DAYS=DAYS)
    yield app
    app.extensions["holdfast.db"].dispose()


@pytest.fixture
def order(browser, db) -> OrderRow:
    """A paid order of one physical unit, bought by ``browser`` as a guest."""
    buy(browser, variant_with_stock(db, 10, price_cents=2000), 1, email=EMAIL)
    return db.scalar(select(OrderRow))


def links(app) -> orders.OrderLinks:
    return orders.OrderLinks.from_config(app.config)


def path(link: str) -> str:
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


def link_path(app, order, days_ago: float = 0) -> str:
    return path(links(app).link(order, clock.utcnow() - timedelta(days=days_ago)))


def stranger(app) -> Browser:
    return Browser(app.test_client())


def refunds(db) -> int:
    return db.scalar(select(func.count()).select_from(Refund))


def test_a_guest_link_opens_the_order_for_the_configured_days_and_not_after(app, order):
    visitor = stranger(app)
    fresh = visitor.get(link_path(app, order, days_ago=DAYS - 1))
    assert fresh.status_code == 200 and order.number in text(fresh)
    expired = visitor.get(link_path(app, order, days_ago=DAYS + 1))
    assert expired.status_code == 410
    page = text(expired)
    assert "This link to your order has expired." in page and "Send me a new link" in page
    assert f'value="{order.number}"' in page  # the form knows which order
    for response in (fresh, expired):
        assert response.headers["Cache-Control"] == "private, no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("kind", ["forged", "untimed"])
def test_a_forged_or_old_format_link_leads_to_the_new_link_page(app, order, kind):
    # "untimed": a link from an email sent before links expired (the old salt, no timestamp)
    old = URLSafeSerializer(app.config["SECRET_KEY"], salt="holdfast.order-link")
    token = old.dumps(order.number) if kind == "untimed" else "forged"
    response = stranger(app).get(f"/orders/{order.number}?t={token}")
    assert response.status_code == 404
    assert "Links from older emails no longer work" in text(response)
    assert "Send me a new link" in text(response)
    assert stranger(app).get(f"/orders/{order.number}").status_code == 404  # no link at all


def test_a_link_to_one_order_does_not_open_another(app, browser, db, order):
    buy(browser, variant_with_stock(db, 5), 1, email="grace@example.com")
    other = db.scalar(select(OrderRow).where(OrderRow.id != order.id))
    token = link_path(app, order).split("?t=", 1)[1]
    assert stranger(app).get(f"/orders/{other.number}?t={token}").status_code == 404


def test_the_owner_withdraws_an_orders_links_and_only_older_links_stop(
    app, browser, db, order, owner
):
    old = link_path(app, order)
    page = text(owner.get(f"/admin/orders/{order.number}"))
    assert "Withdraw the links sent so far" in page
    done = owner.post(f"/admin/orders/{order.number}/withdraw-links")
    assert done.status_code == 303
    assert "no longer open it" in text(owner.get(f"/admin/orders/{order.number}"))

    refused = stranger(app).get(old)
    assert refused.status_code == 410
    assert "withdrawn by the shop" in text(refused) and "Send me a new link" in text(refused)
    assert stranger(app).get(link_path(app, order)).status_code == 200  # signed after
    assert browser.get(f"/orders/{order.number}").status_code == 200  # the checkout's browser
    audit = db.scalar(select(AuditLog).where(AuditLog.action == "order.guest_links_withdrawn"))
    assert (audit.actor, audit.subject_id) == ("owner@example.com", order.id)
    db.expire_all()
    assert db.get(OrderRow, order.id).guest_links_since is not None


def test_staff_may_withdraw_links_and_a_customer_finds_no_such_page(app, db, order, staff):
    assert staff.post(f"/admin/orders/{order.number}/withdraw-links").status_code == 303
    customer = signed_in(app, Role.CUSTOMER)
    assert customer.post(f"/admin/orders/{order.number}/withdraw-links").status_code == 404
    assert staff.post("/admin/orders/HF-NOPE2345/withdraw-links").status_code == 404
    actions = db.scalars(select(AuditLog.actor).where(AuditLog.action.like("order.guest%")))
    assert list(actions) == ["staff@example.com"]


def _link_emails(db) -> list[OutboxMessage]:
    db.expire_all()
    return list(db.scalars(select(OutboxMessage).where(OutboxMessage.template == "order_link")))


@pytest.mark.parametrize("typed", [EMAIL, "  ada.lovelace@EXAMPLE.com "])
def test_asking_for_a_new_link_answers_the_same_and_mails_only_the_orders_email(
    app, db, order, typed
):
    visitor = stranger(app)
    assert "Send me a new link" in text(visitor.get("/orders/link"))
    asks = [
        {"number": order.number, "email": "someone.else@example.com"},
        {"number": "HF-NOPE2345", "email": EMAIL},
        {"number": order.number.lower(), "email": typed},
        {"number": order.number, "email": EMAIL},  # again at once: no second email
    ]
    for ask in asks:
        answer = visitor.post("/orders/link", ask)
        assert answer.status_code == 200 and NEW_LINK in text(answer), ask
    (email,) = _link_emails(db)
    assert (email.to_address, email.order_id) == (order.email, order.id)
    assert email.subject == f"Your link to order {order.number}"
    assert stranger(app).get(path(email.context["order_link"])).status_code == 200


def test_the_new_link_is_erased_once_sent_and_another_waits_ten_minutes(app, db, order):
    session = app.extensions["holdfast.db"].session_factory()
    later = clock.utcnow() + timedelta(minutes=11)
    try:
        assert orders.send_new_link(session, order.number, EMAIL, links=links(app))
        assert not orders.send_new_link(session, order.number, EMAIL, links=links(app))
        mailer.send_pending(session, dict(app.config))  # the confirmation and the link
        assert orders.send_new_link(session, order.number, EMAIL, links=links(app), now=later)
    finally:
        session.close()
    sent, _next = _link_emails(db)
    assert sent.state is OutboxState.SENT and sent.context["order_link"] == mailer.ERASED


def test_a_withdrawn_links_page_sends_a_new_link_that_opens_the_order(app, db, order, owner):
    old = link_path(app, order)
    owner.post(f"/admin/orders/{order.number}/withdraw-links")
    visitor = stranger(app)
    visitor.get(old)  # the 410 page and its form
    answer = visitor.post("/orders/link", {"number": order.number, "email": EMAIL})
    assert NEW_LINK in text(answer)
    (email,) = _link_emails(db)
    assert visitor.get(path(email.context["order_link"])).status_code == 200


def test_the_new_link_form_refuses_empty_fields(app, db):
    answer = stranger(app).post("/orders/link", {"number": "", "email": ""})
    assert answer.status_code == 422 and "Enter the order number." in text(answer)


def _order_status(db, order) -> OrderStatus:
    db.expire_all()
    return db.get(OrderRow, order.id).status


@pytest.mark.parametrize("typed", ["", "grace@example.com", "ada.lovelace@example.co"])
def test_cancelling_from_a_guest_link_refuses_another_email_and_changes_nothing(
    app, db, order, typed
):
    visitor = stranger(app)
    url = link_path(app, order)
    page = text(visitor.get(url))
    assert 'name="email"' in page and order.email not in page
    assert orders.masked_email(order.email) in page
    token = url.split("?t=", 1)[1]
    refused = visitor.post(f"/orders/{order.number}/cancel", {"t": token, "email": typed})
    assert refused.status_code == 403
    assert "email address this order was placed with" in text(refused)
    assert _order_status(db, order) is OrderStatus.PAID and refunds(db) == 0


def test_cancelling_from_a_guest_link_with_the_orders_email_cancels(app, db, order):
    visitor = stranger(app)
    url = link_path(app, order)
    visitor.get(url)
    token = url.split("?t=", 1)[1]
    done = visitor.post(
        f"/orders/{order.number}/cancel", {"t": token, "email": " ada.lovelace@EXAMPLE.com"}
    )
    assert done.status_code == 303
    assert _order_status(db, order) is OrderStatus.CANCELLED and refunds(db) == 1


def test_a_withdrawn_link_cannot_cancel(app, db, order, owner):
    url = link_path(app, order)
    owner.post(f"/admin/orders/{order.number}/withdraw-links")
    visitor = stranger(app)
    visitor.get("/orders/link")
    token = url.split("?t=", 1)[1]
    refused = visitor.post(f"/orders/{order.number}/cancel", {"t": token, "email": EMAIL})
    assert refused.status_code == 410
    assert _order_status(db, order) is OrderStatus.PAID and refunds(db) == 0


def _ship(app, order) -> None:
    session = app.extensions["holdfast.db"].session_factory()
    try:
        aftersales.ship_order(
            session, order.number, carrier="DHL", tracking="JD1", actor="owner", links=links(app)
        )
    finally:
        session.close()


def test_a_return_from_a_guest_link_asks_for_the_orders_email(app, db, order):
    _ship(app, order)
    visitor = stranger(app)
    url = link_path(app, order)
    visitor.get(url)
    ask = {"t": url.split("?t=", 1)[1], "line_id": order.lines[0].id, "quantity": 1}
    wrong = visitor.post(
        f"/orders/{order.number}/return", {**ask, "reason": "too big", "email": "x@example.com"}
    )
    assert wrong.status_code == 403 and db.scalar(select(func.count()).select_from(Return)) == 0
    right = visitor.post(f"/orders/{order.number}/return", {**ask, "reason": "big", "email": EMAIL})
    assert right.status_code == 303
    assert db.scalar(select(func.count()).select_from(Return)) == 1
    assert _order_status(db, order) is OrderStatus.RETURN_REQUESTED


def test_the_account_and_the_checkout_browser_are_not_asked_for_the_email(app, db):
    UserFactory(email="ada@example.com")
    buyer = Browser(app.test_client())
    buyer.get("/login")
    buyer.post("/login", {"email": "ada@example.com", "password": PASSWORD})
    buy(buyer, variant_with_stock(db, 5), 1, email="ada@example.com")
    order = db.scalar(select(OrderRow))
    elsewhere = Browser(app.test_client())  # the same account, another device
    elsewhere.get("/login")
    elsewhere.post("/login", {"email": "ada@example.com", "password": PASSWORD})
    page = text(elsewhere.get(f"/orders/{order.number}"))
    assert 'name="email"' not in page and "ada@example.com" in page
    assert elsewhere.post(f"/orders/{order.number}/cancel").status_code == 303
    assert _order_status(db, order) is OrderStatus.CANCELLED


def test_the_checkout_browser_cancels_without_typing_the_email(app, browser, db, order):
    page = text(browser.get(f"/orders/{order.number}"))
    assert 'name="email"' not in page and order.email in page
    assert browser.post(f"/orders/{order.number}/cancel").status_code == 303
    assert _order_status(db, order) is OrderStatus.CANCELLED
