"""Helpers for the account tests: a browser logged in through the log-in form, a second
browser holding a copy of its session cookie, and the links the account emails carry."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from app.models import LoginThrottle, OutboxMessage
from tests.conftest import Browser

PASSWORD = "correct horse battery"


def logged_in(app, email: str, password: str = PASSWORD, address: str = "127.0.0.1") -> Browser:
    browser = Browser(app.test_client())
    browser.client.environ_base["REMOTE_ADDR"] = address
    browser.get("/login")
    answer = browser.post("/login", {"email": email, "password": password})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return browser


def copy_of(app, browser: Browser) -> Browser:
    """Another browser with the same session cookie (a stolen or forgotten session)."""
    cookie = browser.client.get_cookie("session")
    assert cookie is not None
    other = Browser(app.test_client())
    other.client.set_cookie("session", cookie.value)
    return other


def opens_account(browser: Browser) -> bool:
    """True when /account opens; False when it sends the browser to log in."""
    answer = browser.client.get("/account")
    if answer.status_code == 200:
        return True
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    return False


def emails(db, kind: str, to: str | None = None) -> list[OutboxMessage]:
    db.expire_all()
    stmt = select(OutboxMessage).where(OutboxMessage.template == kind).order_by(OutboxMessage.id)
    if to is not None:
        stmt = stmt.where(OutboxMessage.to_address == to)
    return list(db.scalars(stmt))


def link_path(link: str) -> str:
    """The path of an absolute link in an email."""
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


def token_of(link: str, prefix: str) -> str:
    return re.search(rf"{prefix}/([\w-]+)", link).group(1)


def without_csrf(html: str) -> str:
    html = re.sub(r'name="csrf_token"([^>]*)value="[^"]+"', 'name="csrf_token"\\1value=""', html)
    return re.sub(r'"X-CSRFToken": "[^"]+"', '"X-CSRFToken": ""', html)


def make_them_wait(db) -> None:
    """Waiting (email, address) pairs wait an hour (the real first wait, 1 s, could end
    mid-test)."""
    later = datetime.now(UTC) + timedelta(hours=1)
    db.execute(
        update(LoginThrottle)
        .where(LoginThrottle.next_try_at.is_not(None))
        .values(next_try_at=later)
    )
