"""A shop that cannot take money says so: production refuses to start without a real payment
provider (or with testpay), and a provider that is enabled but not configured answers a clear
503 page (never a 500) on every page that would use it. Every start-up refusal is in
test_production_guards.py."""

from __future__ import annotations

import secrets

import pytest

from app import create_app
from app.config import ConfigError
from tests.checkout_helpers import checkout_path, fill_cart, start_checkout
from tests.conftest import Browser, make_test_app
from tests.factories import variant_with_stock

PRODUCTION = {"HOLDFAST_ENV": "production", "SECRET_KEY": secrets.token_hex(32)}


@pytest.fixture
def production_env(monkeypatch, tmp_path):
    for key in (
        "PAYMENT_PROVIDERS",
        "TESTPAY_ENABLED",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "FLASK_ENV",
        "FLASK_DEBUG",
    ):
        monkeypatch.delenv(key, raising=False)
    for key, value in PRODUCTION.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'shop.db'}")
    return monkeypatch


def test_production_refuses_to_start_with_only_testpay(production_env):
    with pytest.raises(ConfigError, match="real payment provider"):
        create_app()


def test_production_refuses_a_real_provider_without_its_keys(production_env):
    production_env.setenv("PAYMENT_PROVIDERS", "stripe")
    with pytest.raises(ConfigError, match="STRIPE_SECRET_KEY"):
        create_app()


def test_production_refuses_testpay_beside_a_real_provider(production_env):
    production_env.setenv("PAYMENT_PROVIDERS", "stripe,testpay")
    production_env.setenv("STRIPE_SECRET_KEY", "sk_live_x")
    production_env.setenv("STRIPE_WEBHOOK_SECRET", "whsec_x")
    with pytest.raises(ConfigError, match="testpay"):
        create_app()


def test_production_starts_with_a_configured_provider(production_env):
    production_env.setenv("PAYMENT_PROVIDERS", "stripe")
    production_env.setenv("STRIPE_SECRET_KEY", "sk_live_x")
    production_env.setenv("STRIPE_WEBHOOK_SECRET", "whsec_x")
    app = create_app()
    assert app.config["PAYMENT_PROVIDERS"] == ["stripe"]
    app.extensions["holdfast.db"].dispose()


def test_an_unknown_provider_stops_start_up_anywhere(tmp_path):
    with pytest.raises(ConfigError, match="unknown provider: paypall"):
        make_test_app(f"sqlite:///{tmp_path / 'x.db'}", PAYMENT_PROVIDERS=["testpay", "paypall"])


def test_an_enabled_provider_without_its_keys_is_a_503_not_a_500(database_url, db):
    app = make_test_app(database_url, PAYMENT_PROVIDERS=["testpay", "stripe"], STRIPE_SECRET_KEY="")
    tee = variant_with_stock(db, 5)
    browser = Browser(app.test_client())
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    browser.get(path)
    response = browser.post(f"{path}/pay", {"payment_provider": "stripe"})
    assert response.status_code == 503
    assert "not available right now" in response.get_data(as_text=True)
    assert response.headers["Retry-After"]
    webhook = app.test_client().post(
        "/webhooks/stripe", data=b"{}", headers={"Stripe-Signature": "t=1,v1=x"}
    )
    assert webhook.status_code == 503
    # The checkout is untouched: testpay still takes the payment.
    assert browser.post(f"{path}/pay", {"payment_provider": "testpay"}).status_code == 303


def test_testpay_listed_but_disabled_answers_a_503_on_its_pages(database_url, db):
    app = make_test_app(database_url, PAYMENT_PROVIDERS=["testpay"], TESTPAY_ENABLED=False)
    client = app.test_client()
    assert client.get("/testpay/pay/tp_123").status_code == 503
    assert client.post("/webhooks/testpay", data=b"{}").status_code == 503
