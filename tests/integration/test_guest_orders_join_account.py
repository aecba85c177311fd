"""Guest orders join the account once its email is proven: opening the registration link
attaches every earlier guest order placed with that email (any case) to the new account, whose
history then lists them by name and in words; the timeline and the audit log say so. Another
email's orders, and registering without opening the link, attach nothing."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.models import AuditLog, Order, User
from tests.account_helpers import PASSWORD, emails, link_path
from tests.admin_helpers import text
from tests.checkout_helpers import buy
from tests.conftest import Browser
from tests.factories import ProductFactory, variant_with_stock


def _register(app, email: str) -> Browser:
    browser = Browser(app.test_client())
    browser.get("/register")
    data = {"email": email, "password": PASSWORD, "confirm": PASSWORD, "name": "Ada"}
    assert browser.post("/register", data).status_code == 200
    return browser


def _confirm(browser: Browser, db, email: str):
    (message,) = emails(db, "email_confirmation", email)
    path = link_path(message.context["confirm_link"])
    browser.get(path)
    return browser.post(path)


def _tee(db):
    return variant_with_stock(db, 5, product=ProductFactory(name="Harbour T-shirt"))


def test_confirming_the_email_brings_the_guest_orders_into_the_account(app, db):
    buy(Browser(app.test_client()), _tee(db), 1, email="Ada@Example.com")
    buy(Browser(app.test_client()), _tee(db), 2, email="ada@example.com")
    buy(Browser(app.test_client()), _tee(db), 1, email="someone@example.com")

    browser = _register(app, "ADA@example.com")
    assert db.scalars(select(Order.user_id)).all() == [None, None, None]  # not before the link
    assert _confirm(browser, db, "ada@example.com").status_code == 303

    user = db.scalar(select(User).where(User.email == "ada@example.com"))
    db.expire_all()
    owners = dict(db.execute(select(Order.email, Order.user_id)).all())
    assert owners == {"ada@example.com": user.id, "someone@example.com": None}
    assert len(db.scalars(select(Order).where(Order.user_id == user.id)).all()) == 2

    html = text(browser.get("/account"))
    assert "No orders yet" not in html
    assert re.findall(r'<td class="order-name">(.*?)</td>', html) == ["Harbour T-shirt"] * 2
    assert re.findall(r'<td class="order-label">(.*?)</td>', html) == ["Processing"] * 2
    assert "—</td>" not in html

    number = db.scalar(select(Order.number).where(Order.user_id == user.id).limit(1))
    order_page = text(browser.get(f"/orders/{number}"))
    assert "Added to your account." in order_page
    (entry,) = db.scalars(
        select(AuditLog).where(AuditLog.action == "user.guest_orders_attached")
    ).all()
    assert entry.subject_id == user.id and len(entry.details["orders"]) == 2


def test_an_account_without_guest_orders_says_so_and_logs_nothing(app, db):
    buy(Browser(app.test_client()), _tee(db), 1, email="someone@example.com")
    browser = _register(app, "new@example.com")
    assert _confirm(browser, db, "new@example.com").status_code == 303
    assert "No orders yet" in text(browser.get("/account"))
    assert db.scalar(select(Order.user_id)) is None
    assert (
        db.scalar(select(AuditLog).where(AuditLog.action == "user.guest_orders_attached")) is None
    )
