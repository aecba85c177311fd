"""Checkout in a real browser: the countdown runs out and the shopper tries again; a shopper
pays with testpay and lands on their order while testpay's webhook arrives over HTTP."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.models import Order, WebhookEvent

from .conftest import LiveServer
from .pages import fill_address

pytestmark = pytest.mark.e2e


def _add_first_in_stock_product(page, base):
    page.goto(base + "/category/home-kitchen")
    page.locator(".card:not(:has(.tag-out)) .card-link").first.click()
    page.wait_for_url(re.compile(r"/products/"))
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator("#cart-badge .badge")).to_have_text("1")


@pytest.fixture(scope="module")
def short_hold_server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("e2e-ttl"), HOLD_TTL_MINUTES=0.07)  # ~4 s
    yield server
    server.stop()


@pytest.fixture(scope="module")
def paying_server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("e2e-pay"), TESTPAY_SEND_WEBHOOKS=True)
    yield server
    server.stop()


def test_the_countdown_reaches_zero_then_offers_to_try_again(short_hold_server, page):
    base = short_hold_server.url
    _add_first_in_stock_product(page, base)
    fill_address(page, base)
    countdown = page.locator("#hold-countdown")
    expect(countdown).to_have_attribute("data-expires-at", re.compile(r"^\d{4}-\d\d-\d\dT"))
    clock = page.locator(".countdown-clock")
    first = clock.inner_text()
    page.wait_for_timeout(1500)
    assert clock.inner_text() != first  # it ticks
    # The polite live region (outside what htmx swaps) speaks in the last minute's steps.
    expect(page.locator("#countdown-live")).to_have_text("10 seconds left to pay")
    expect(page.get_by_text("Your hold expired.")).to_be_visible(timeout=15000)
    old_url = page.url
    page.get_by_role("button", name="Try again").click()
    page.wait_for_url(re.compile(r"/checkout/co_"))
    assert page.url != old_url
    expect(page.locator("#hold-countdown .countdown-clock")).to_be_visible()


def test_paying_with_testpay_lands_on_the_order_and_the_webhook_arrives(paying_server, page):
    base = paying_server.url
    _add_first_in_stock_product(page, base)
    fill_address(page, base)
    page.get_by_role("button", name=re.compile(r"^Pay .* with Test payment")).click()
    page.wait_for_url(re.compile(r"/testpay/pay/"))
    amount = page.locator("#testpay-amount")
    assert int(amount.get_attribute("data-amount")) > 0
    page.get_by_role("button", name="Approve payment").click()
    page.wait_for_url(re.compile(r"/orders/HF-"))
    expect(page.get_by_text("Your payment was received")).to_be_visible()
    session = paying_server.app.extensions["holdfast.db"].session_factory()
    try:
        for _ in range(50):
            if session.scalar(select(WebhookEvent.state)) is not None:
                break
            page.wait_for_timeout(100)
            session.rollback()
        assert session.scalar(select(WebhookEvent.kind)) == "payment.captured"
        assert len(session.scalars(select(Order)).all()) == 1
    finally:
        session.close()
