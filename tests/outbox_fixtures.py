"""Fixtures for the outbox tests: an app that mails a real SMTP server (aiosmtpd on 127.0.0.1),
its config, a session of its own and a paid order of two lines.

Each is named with ``name=``, so a test module imports it by its function name
(``fixture_app``, ...) and the import does not clash with the test argument it provides.
"""

from __future__ import annotations

import pytest

from app.models import Order
from tests.conftest import make_test_app
from tests.factories import VariantFactory
from tests.outbox_helpers import BASE, place_order
from tests.smtp_sink import SmtpSink


@pytest.fixture(name="sink")
def fixture_sink():
    server = SmtpSink().start()
    yield server
    server.stop()


@pytest.fixture(name="app")
def fixture_app(database_url, sink, tmp_path):
    app = make_test_app(
        database_url,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=sink.port,
        MAIL_USE_TLS=False,
        MAIL_TIMEOUT=5,
        MAIL_FILE_DIR=str(tmp_path / "mail"),
        MAIL_DEFAULT_SENDER="Holdfast Supply Co. <shop@holdfast.example>",
        SHOP_BASE_URL=BASE,
    )
    yield app
    app.extensions["holdfast.db"].dispose()


@pytest.fixture(name="config")
def fixture_config(app) -> dict:
    return dict(app.config)


@pytest.fixture(name="session")
def fixture_session(app):
    s = app.extensions["holdfast.db"].session_factory()
    yield s
    s.close()


@pytest.fixture(name="order")
def fixture_order(db, session) -> Order:
    tee = VariantFactory(sku="TEE-M", price_cents=2500, product__name="Heavy Tee")
    font = VariantFactory(sku="FONT-1", price_cents=4900, product__name="Grotesk Font")
    return place_order(session, [(tee, "Heavy Tee — M", 2), (font, "Grotesk Font licence", 1)])
