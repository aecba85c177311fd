"""The shopper's account: order history, cancelling, returns, password reset by email."""

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.models import (
    AuditLog,
    OrderStatus,
    OutboxMessage,
    PasswordResetToken,
    Refund,
    Return,
    ReturnState,
    StockMovement,
    Variant,
)
from app.models import Order as OrderRow
from app.providers import get_provider
from app.services.checks import invariants as verify
from app.services.orders import aftersales
from app.services.orders.order_book import OrderLinks
from tests.checkout_helpers import buy
from tests.conftest import Browser
from tests.factories import UserFactory, variant_with_stock

PASSWORD = "correct horse battery"


def _session(app):
    return app.extensions["holdfast.db"].session_factory()


def test_the_account_page_lists_the_shoppers_orders(app, db):
    UserFactory(email="ada@example.com")
    browser = Browser(app.test_client())
    browser.post("/login", {"email": "ada@example.com", "password": PASSWORD})
    tee = variant_with_stock(db, 5)
    buy(browser, tee)
    number = db.scalar(select(OrderRow.number))
    html = browser.get("/account").get_data(as_text=True)
    assert number in html and "Processing" in html
    other = Browser(app.test_client())
    UserFactory(email="bob@example.com")
    other.post("/login", {"email": "bob@example.com", "password": PASSWORD})
    assert number not in other.get("/account").get_data(as_text=True)
    assert other.get(f"/orders/{number}").status_code == 404


def test_a_guest_opens_their_order_from_the_signed_email_link_only(app, browser, db):
    tee = variant_with_stock(db, 5)
    buy(browser, tee)
    order = db.scalar(select(OrderRow))
    link = OrderLinks.from_config(app.config).link(order)
    path = link.split("://", 1)[1].split("/", 1)[1]
    stranger = app.test_client()
    assert stranger.get(f"/{path}").status_code == 200
    assert stranger.get(f"/orders/{order.number}").status_code == 404
    assert stranger.get(f"/orders/{order.number}?t=forged").status_code == 404
    confirmation = db.scalar(
        select(OutboxMessage).where(OutboxMessage.template == "order_confirmed")
    )
    emailed = confirmation.context["order_link"]  # timed: signed when the email was written
    assert emailed.split("?t=", 1)[0] == link.split("?t=", 1)[0]
    assert stranger.get("/" + emailed.split("://", 1)[1].split("/", 1)[1]).status_code == 200


def test_cancelling_an_unshipped_order_refunds_it_and_restocks(app, browser, db):
    tee = variant_with_stock(db, 5, price_cents=2500)
    order_url = buy(browser, tee, 2)
    assert "Cancel this order" in browser.get(order_url).get_data(as_text=True)
    response = browser.post(f"{order_url}/cancel")
    assert response.status_code == 303
    db.expire_all()
    order = db.scalar(select(OrderRow))
    assert order.status is OrderStatus.CANCELLED
    assert db.scalar(select(Refund.amount_cents)) == 5000
    assert db.get(Variant, tee.id).on_hand == 5
    assert db.scalar(select(StockMovement.delta).where(StockMovement.reason == "return")) == 2
    assert db.scalar(select(OutboxMessage.id).where(OutboxMessage.template == "refunded"))
    assert "Cancel this order" not in browser.get(order_url).get_data(as_text=True)
    assert verify.check_all(db) == []


def test_a_shipped_order_cannot_be_cancelled_but_a_line_can_be_returned(app, browser, db):
    tee = variant_with_stock(db, 5, price_cents=2500)
    order_url = buy(browser, tee, 2)
    number = db.scalar(select(OrderRow.number))
    session = _session(app)
    aftersales.ship_order(
        session,
        number,
        carrier="DHL",
        tracking="JD0001",
        actor="owner",
        links=OrderLinks.from_config(app.config),
    )
    session.close()
    html = browser.get(order_url).get_data(as_text=True)
    assert "Cancel this order" not in html and "JD0001" in html
    assert browser.post(f"{order_url}/cancel").status_code == 303
    db.expire_all()
    assert db.scalar(select(OrderRow.status)) is OrderStatus.SHIPPED

    line_id = db.scalar(select(OrderRow)).lines[0].id
    too_many = browser.post(
        f"{order_url}/return", {"line_id": line_id, "quantity": 3, "reason": "too big"}
    )
    assert too_many.status_code == 303
    assert db.scalar(select(Return.id)) is None
    browser.post(f"{order_url}/return", {"line_id": line_id, "quantity": 1, "reason": "too big"})
    ret = db.scalar(select(Return))
    assert ret.state is ReturnState.REQUESTED
    db.expire_all()
    assert db.scalar(select(OrderRow.status)) is OrderStatus.RETURN_REQUESTED

    session = _session(app)
    aftersales.receive_return(
        session,
        lambda n: get_provider(n, app.config),
        ret.id,
        actor="owner",
        links=OrderLinks.from_config(app.config),
    )
    session.close()
    db.expire_all()
    assert db.scalar(select(Refund.amount_cents)) == 2500
    assert db.get(Variant, tee.id).on_hand == 4
    kinds = set(db.scalars(select(OutboxMessage.template)))
    assert {"order_confirmed", "shipped", "refunded", "return_received"} <= kinds
    assert verify.check_all(db) == []


def test_password_reset_by_email_is_single_use_and_expires(app, browser, db):
    user = UserFactory(email="ada@example.com")
    browser.get("/password/forgot")
    response = browser.post("/password/forgot", {"email": "ADA@example.com"})
    assert "If an account uses that email" in response.get_data(as_text=True)
    unknown = browser.post("/password/forgot", {"email": "nobody@example.com"})
    assert "If an account uses that email" in unknown.get_data(as_text=True)
    message = db.scalar(select(OutboxMessage).where(OutboxMessage.template == "password_reset"))
    assert message.to_address == "ada@example.com"
    token = re.search(r"/password/reset/([\w-]+)", message.context["reset_link"]).group(1)
    stored = db.scalar(select(PasswordResetToken.token_hash))
    assert token not in stored and len(stored) == 64

    page = browser.get(f"/password/reset/{token}")
    assert page.status_code == 200
    done = browser.post(
        f"/password/reset/{token}",
        {"password": "a brand new secret", "confirm": "a brand new secret"},
    )
    assert done.status_code == 303
    again = browser.get(f"/password/reset/{token}")
    assert again.status_code == 410
    login = Browser(app.test_client()).post(
        "/login", {"email": "ada@example.com", "password": "a brand new secret"}
    )
    assert login.status_code == 303
    assert db.scalar(select(AuditLog.id).where(AuditLog.action == "user.password_reset"))
    assert user.id


def test_an_expired_reset_link_is_refused(app, browser, db):
    UserFactory(email="ada@example.com")
    browser.get("/password/forgot")
    browser.post("/password/forgot", {"email": "ada@example.com"})
    message = db.scalar(select(OutboxMessage).where(OutboxMessage.template == "password_reset"))
    token = re.search(r"/password/reset/([\w-]+)", message.context["reset_link"]).group(1)
    db.execute(
        PasswordResetToken.__table__.update().values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)
        )
    )
    assert browser.get(f"/password/reset/{token}").status_code == 410
    refused = browser.post(
        f"/password/reset/{token}",
        {"password": "a brand new secret", "confirm": "a brand new secret"},
    )
    assert refused.status_code == 410
