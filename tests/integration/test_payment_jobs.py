"""Payments through the real background machinery: a webhook processed by an RQ worker, the
JSON log of the pipeline, and testpay kept out of production (on in staging)."""

import json
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from app.config import ConfigError, check_startup, load_config
from app.models import Order as OrderRow
from app.models import OrderStatus, Variant, WebhookEvent, WebhookState
from app.providers import ProviderError, get_provider
from tests.checkout_helpers import (
    approval_ref,
    checkout_path,
    fill_cart,
    pay,
    signed_webhook,
    start_checkout,
)
from tests.conftest import Browser, make_test_app
from tests.factories import variant_with_stock

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rq_redis_url(redis_url):
    """A Redis database of these tests' own (db 14), emptied before and after."""
    url = redis_url.rsplit("/", 1)[0] + "/14"
    connection = Redis.from_url(url)
    connection.flushdb()
    yield url
    connection.flushdb()
    connection.close()


def test_with_redis_a_webhook_is_processed_by_an_rq_worker(database_url, rq_redis_url, db):
    app = make_test_app(database_url, REDIS_URL=rq_redis_url)
    tee = variant_with_stock(db, 5, price_cents=1800)
    browser = Browser(app.test_client())
    fill_cart(browser, (tee, 1))
    path = checkout_path(start_checkout(browser))
    ref = approval_ref(pay(browser, path))
    browser.get(f"/testpay/pay/{ref}")
    browser.post(f"/testpay/pay/{ref}/approve")  # its own webhook goes to RQ too (unused here)
    body, headers = signed_webhook(app, ref, 1800, event_id="evt_rq")
    response = app.test_client().post("/webhooks/testpay", data=body, headers=headers)
    assert response.status_code == 200
    assert db.scalar(select(OrderRow)) is None  # acknowledged, not processed in the request
    assert Queue("default", connection=Redis.from_url(rq_redis_url)).count >= 1
    app.extensions["holdfast.db"].dispose()

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": rq_redis_url,
        "HOLDFAST_ENV": "development",
        "TESTPAY_SEND_WEBHOOKS": "false",
        "MAIL_FILE_DIR": str(Path(app.config["MAIL_FILE_DIR"])),
        "SECRET_KEY": app.config["SECRET_KEY"],
    }
    done = subprocess.run(
        [sys.executable, "worker.py", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    db.expire_all()
    order = db.scalar(select(OrderRow))
    assert order is not None and order.status is OrderStatus.PAID
    event = db.scalar(select(WebhookEvent).where(WebhookEvent.event_id == "evt_rq"))
    assert event.state is WebhookState.PROCESSED
    assert db.get(Variant, tee.id).on_hand == 4


def test_every_checkout_step_is_a_json_log_line_with_its_checkout_and_phase(
    app, browser, db, caplog
):
    tee = variant_with_stock(db, 2)
    fill_cart(browser, (tee, 1))
    with caplog.at_level(logging.INFO, logger="holdfast.checkout"):
        path = checkout_path(start_checkout(browser))
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "holdfast.checkout"]
    public_id = path.rsplit("/", 1)[1]
    assert [line["phase"] for line in lines] == [
        "cart_validation",
        "inventory_reservation",
        "price_lock",
    ]
    assert all(line["checkout_id"] == public_id for line in lines)
    assert lines[0]["event"] == "checkout.transition"


def test_testpay_is_off_in_production_and_on_in_staging(tmp_path):
    env = {
        "HOLDFAST_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
    }
    config = load_config(str(tmp_path), env)
    assert config["TESTPAY_ENABLED"] is False
    with pytest.raises(ProviderError, match="disabled"):
        get_provider("testpay", config)
    # Switched on in production, the shop refuses to start (test_production_guards.py).
    enabled = load_config(str(tmp_path), {**env, "TESTPAY_ENABLED": "true"})
    with pytest.raises(ConfigError, match="^TESTPAY_ENABLED=true in production"):
        check_startup(enabled, debug=False)
    staging = load_config(str(tmp_path), {**env, "HOLDFAST_ENV": "staging"})
    assert get_provider("testpay", staging).name == "testpay"
    with pytest.raises(ConfigError):
        load_config(str(tmp_path), {"HOLDFAST_ENV": "production"})


def test_stock_arriving_through_flask_stock_adjust_fills_a_waiting_order(app, db):
    throw = variant_with_stock(db, 0, allow_backorder=True, sku="THROW-CLAY")
    browser = Browser(app.test_client())
    fill_cart(browser, (throw, 1))
    path = checkout_path(start_checkout(browser))
    ref = approval_ref(pay(browser, path))
    browser.get(f"/testpay/pay/{ref}")
    browser.post(f"/testpay/pay/{ref}/approve")
    browser.client.get(f"{path}/return")
    assert db.scalar(select(OrderRow.status)) is OrderStatus.AWAITING_STOCK
    result = app.test_cli_runner().invoke(
        args=["stock", "adjust", "THROW-CLAY", "3", "--reason", "supplier delivery"]
    )
    assert result.exit_code == 0, result.output
    db.expire_all()
    assert db.scalar(select(OrderRow.status)) is OrderStatus.PAID
    assert db.get(Variant, throw.id).on_hand == 2
