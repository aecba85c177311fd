"""Fixtures the admin tests share: an owner and a member of staff, each signed in."""

from __future__ import annotations

import pytest

from app.models import Role
from tests.admin_helpers import signed_in
from tests.conftest import Browser
from tests.smtp_sink import SmtpSink


@pytest.fixture
def owner(app, db) -> Browser:
    return signed_in(app, Role.OWNER, email="owner@example.com")


@pytest.fixture
def staff(app, db) -> Browser:
    return signed_in(app, Role.STAFF, email="staff@example.com")


@pytest.fixture
def sink():
    """A real SMTP server (aiosmtpd) on a free port, keeping what it receives."""
    server = SmtpSink().start()
    yield server
    server.stop()
