"""Helpers for admin tests: a signed-in person of a given role, as a browser."""

from __future__ import annotations

from app.models import Role
from tests.conftest import Browser
from tests.factories import UserFactory

PASSWORD = "correct horse battery"


def signed_in(app, role: Role, **user) -> Browser:
    """A test client logged in as a new user of ``role`` (its CSRF tokens handled)."""
    person = UserFactory(role=role, **user)
    browser = Browser(app.test_client())
    browser.get("/login")
    answer = browser.post("/login", {"email": person.email, "password": PASSWORD})
    assert answer.status_code in (302, 303), answer.get_data(as_text=True)
    return browser


def text(response) -> str:
    return response.get_data(as_text=True)
