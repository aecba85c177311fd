"""Checkout end to end with each real provider adapter (PayPal, Stripe, Razorpay), through the
shop's own routes, against the fake of each provider's API on 127.0.0.1 (tests/fakes).

A shopper fills a cart, checks out and pays; the fake plays the shopper's approval at the
provider. Completion is proven separately by the shopper's return and by the signed webhook
alone; refunds go out through ``flask payments refund``. Then the Razorpay payment page that the
shop serves in place of a hosted approval page. Every test runs on SQLite and on Postgres.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from app.config import load_config
from app.models import Checkout as CheckoutRow
from app.models import CheckoutState, OrderStatus, Payment, Variant, WebhookEvent
from app.models import Order as OrderRow
from app.providers import PaymentStatus
from app.services.checks import invariants as verify
from tests import factories
from tests.breakdown_helpers import uk_shop
from tests.checkout_helpers import checkout_path, fill_cart, pay, start_checkout
from tests.conftest import Browser, make_test_app
from tests.factories import variant_with_stock
from tests.fakes import FakePayPal, FakeProvider, FakeRazorpay, FakeStripe

FAKES: dict[str, type[FakeProvider]] = {
    "paypal": FakePayPal,
    "stripe": FakeStripe,
    "razorpay": FakeRazorpay,
}
# The event each provider sends once the shopper has paid (PayPal: approved, we capture).
PAID_EVENT = {
    "paypal": "CHECKOUT.ORDER.APPROVED",
    "stripe": "checkout.session.completed",
    "razorpay": "payment.authorized",
}
# The event each provider sends when the payment fails (PayPal declines at our capture).
DECLINED_EVENT = {
    "paypal": "CHECKOUT.ORDER.APPROVED",
    "stripe": "payment_intent.payment_failed",
    "razorpay": "payment.failed",
}
PRICE = 10_000
RAZORPAY_ORIGINS = "https://checkout.razorpay.com https://api.razorpay.com"


@pytest.fixture(scope="module", params=list(FAKES))
def name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def fake(name: str) -> Iterator[FakeProvider]:
    """A fresh fake per test: each test's database numbers its rows from 1 again, and keys the
    shop derives from row ids must not meet a previous test's at the provider."""
    server = FAKES[name]()
    yield server
    server.stop()


@pytest.fixture
def app(database_url: str, name: str, fake: FakeProvider):
    """The shop with testpay and this provider enabled, its adapter pointed at the fake."""
    app = make_test_app(database_url, PAYMENT_PROVIDERS=["testpay", name], **fake.settings)
    yield app
    app.extensions["holdfast.db"].dispose()


def test_the_fakes_settings_are_the_settings_the_shop_reads(name, fake, tmp_path):
    settings = load_config(str(tmp_path), env={"PAYMENT_PROVIDERS": f"testpay,{name}"})
    assert set(fake.settings) <= set(settings)
    assert settings["PAYMENT_PROVIDERS"] == ["testpay", name]


# ---------------------------------------------------------------- what the fake holds


def asked_cents(fake: FakeProvider, name: str, ref: str) -> int:
    """The amount the shop asked the provider to collect."""
    if name == "paypal":
        amount = fake.orders[ref]["purchase_units"][0]["amount"]
        return int(Decimal(amount["value"]) * 100)
    if name == "stripe":
        return fake.sessions[ref]["amount_total"]
    return fake.orders[ref]["amount"]


def refunded_cents(fake: FakeProvider, name: str, ref: str) -> int:
    """What the provider has given back to the shopper for this payment."""
    if name == "paypal":
        refunds = fake.orders[ref]["purchase_units"][0]["payments"].get("refunds") or []
        return sum(int(Decimal(r["amount"]["value"]) * 100) for r in refunds)
    if name == "stripe":
        intent = fake.intents[fake.sessions[ref]["payment_intent"]]
        return fake.charges[intent["latest_charge"]]["amount_refunded"]
    paid = {p["id"] for p in fake.payments.values() if p["order_id"] == ref}
    return sum(r["amount"] for r in fake.refunds.values() if r["payment_id"] in paid)


def captured_at_provider(fake: FakeProvider, name: str, ref: str) -> bool:
    if name == "paypal":
        captures = fake.orders[ref]["purchase_units"][0]["payments"].get("captures") or []
        return any(c["status"] == "COMPLETED" for c in captures)
    if name == "stripe":
        intent = fake.intents.get(fake.sessions[ref]["payment_intent"] or "")
        return bool(intent) and intent["status"] == "succeeded"
    return any(p["order_id"] == ref and p["status"] == "captured" for p in fake.payments.values())


# ---------------------------------------------------------------- the shopper


def _orders(db) -> list[OrderRow]:
    db.expire_all()
    return db.scalars(select(OrderRow)).all()


def _checkout(db, path: str) -> CheckoutRow:
    db.expire_all()
    return db.scalar(select(CheckoutRow).where(CheckoutRow.public_id == path.rsplit("/", 1)[1]))


def _payment(db, name: str) -> Payment:
    db.expire_all()
    return db.scalar(select(Payment).where(Payment.provider == name).order_by(Payment.id.desc()))


def expected_approval(fake: FakeProvider, name: str, ref: str) -> str:
    if name == "paypal":
        return f"{fake.url}/checkoutnow?token={ref}"
    if name == "stripe":
        return f"{fake.url}/c/pay/{ref}"
    return f"/pay/razorpay/{ref}"


def checkout_with_provider(browser, db, fake, name, quantity=2):
    """A shopper checks out and chooses ``name``; the price moves 0.5% (within tolerance) in
    between, so the snapshot total is what must be asked for. Returns (checkout path, ref,
    variant)."""
    variant = variant_with_stock(db, 5, price_cents=PRICE)
    fill_cart(browser, (variant, quantity))
    path = checkout_path(start_checkout(browser))
    db.execute(
        Variant.__table__.update().where(Variant.id == variant.id).values(price_cents=PRICE + 50)
    )
    response = pay(browser, path, provider=name)
    assert response.status_code == 303, response.get_data(as_text=True)
    ref = _payment(db, name).provider_ref
    assert response.headers["Location"] == expected_approval(fake, name, ref)
    return path, ref, variant


def paid_by_return(browser, db, fake, name):
    """The shopper pays at the provider and comes back; returns (path, ref, order)."""
    path, ref, _variant = checkout_with_provider(browser, db, fake, name)
    if name == "razorpay":
        assert browser.get(f"/pay/razorpay/{ref}").status_code == 200
    params = fake.approve(ref)
    landed = browser.client.get(f"{path}/return?{urlencode(params)}")
    (order,) = _orders(db)
    assert landed.status_code == 303, landed.get_data(as_text=True)
    assert landed.headers["Location"] == f"/orders/{order.number}"
    return path, ref, order


# ---------------------------------------------------------------- completion


def test_paying_with_the_provider_and_returning_sells_the_snapshot_total(name, fake, browser, db):
    path, ref, order = paid_by_return(browser, db, fake, name)
    checkout = _checkout(db, path)
    assert checkout.state is CheckoutState.COMPLETED
    assert checkout.total_cents == 2 * PRICE  # the snapshot, not the moved price
    assert asked_cents(fake, name, ref) == checkout.total_cents
    assert order.status is OrderStatus.PAID and order.total_cents == checkout.total_cents
    payment = _payment(db, name)
    assert payment.status is PaymentStatus.CAPTURED
    assert payment.captured_cents == checkout.total_cents and payment.order_id == order.id
    assert captured_at_provider(fake, name, ref)
    db.expire_all()
    assert db.scalar(select(Variant.on_hand)) == 3
    assert 'data-count="0"' in browser.get("/cart").get_data(as_text=True)
    assert "Your payment was received" in browser.get(f"/orders/{order.number}").get_data(
        as_text=True
    )
    assert verify.check_all(db) == []


def test_the_signed_webhook_alone_completes_the_order_once_and_forgeries_change_nothing(
    name, fake, app, browser, db
):
    path, ref, _variant = checkout_with_provider(browser, db, fake, name)
    params = fake.approve(ref)  # the shopper paid and closed the tab: only the provider tells
    provider = app.test_client()
    url = f"/webhooks/{name}"

    headers, body = fake.webhook(PAID_EVENT[name], ref, forged=True)
    assert provider.post(url, data=body, headers=headers).status_code == 400
    assert db.scalar(select(func.count(WebhookEvent.id))) == 0
    assert _orders(db) == []
    assert _checkout(db, path).state is CheckoutState.AWAITING_PAYMENT

    headers, body = fake.webhook(PAID_EVENT[name], ref)
    assert provider.post(url, data=body, headers=headers).status_code == 200
    (order,) = _orders(db)
    assert order.status is OrderStatus.PAID and order.total_cents == 2 * PRICE
    assert asked_cents(fake, name, ref) == order.total_cents
    assert captured_at_provider(fake, name, ref)

    again = provider.post(url, data=body, headers=headers)  # the provider retries
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    headers, body = fake.webhook(PAID_EVENT[name], ref, forged=True)
    assert provider.post(url, data=body, headers=headers).status_code == 400
    assert [o.id for o in _orders(db)] == [order.id]
    assert db.scalar(select(func.count(WebhookEvent.id))) == 1
    db.expire_all()
    assert db.scalar(select(Variant.on_hand)) == 3

    # The shopper's late return finds the order instead of making another.
    landed = browser.client.get(f"{path}/return?{urlencode(params)}")
    assert landed.headers["Location"] == f"/orders/{order.number}"
    assert len(_orders(db)) == 1
    assert verify.check_all(db) == []


def test_a_refund_from_the_cli_reaches_the_provider_once_per_key(name, fake, app, browser, db):
    _path, ref, order = paid_by_return(browser, db, fake, name)
    args = [
        "payments",
        "refund",
        order.number,
        "--amount",
        "500",
        "--reason",
        "scuffed box",
        "--key",
        f"refund-{order.number}",
    ]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "500 USD succeeded" in result.output
    assert refunded_cents(fake, name, ref) == 500
    calls = len(fake.calls)

    rerun = app.test_cli_runner().invoke(args=args)  # a retry with the same key
    assert rerun.exit_code == 0, rerun.output
    assert refunded_cents(fake, name, ref) == 500
    assert len(fake.calls) == calls  # the provider was not asked again
    (order,) = _orders(db)
    assert order.status is OrderStatus.PARTIALLY_REFUNDED
    payment = _payment(db, name)
    assert payment.refunded_cents == 500 and payment.status is PaymentStatus.PARTIALLY_REFUNDED
    assert verify.check_all(db) == []


def test_a_declined_payment_charges_nothing_and_leaves_no_paid_order(name, fake, app, browser, db):
    path, ref, variant = checkout_with_provider(browser, db, fake, name)
    fake.decline(ref)
    headers, body = fake.webhook(DECLINED_EVENT[name], ref)
    assert (
        app.test_client().post(f"/webhooks/{name}", data=body, headers=headers).status_code == 200
    )
    assert not captured_at_provider(fake, name, ref)
    # PayPal declines at our capture, after the order row exists (pending_payment): that
    # order is cancelled. Stripe and Razorpay report the failure first: no order at all.
    assert {o.status for o in _orders(db)} <= {OrderStatus.CANCELLED}
    payment = _payment(db, name)
    assert payment.captured_cents == 0 and payment.status not in (
        PaymentStatus.CAPTURED,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.REFUNDED,
    )
    db.expire_all()
    assert db.get(Variant, variant.id).on_hand == 5
    assert verify.check_all(db) == []
    if name != "paypal":  # the hold stands: the shopper may pay again
        assert _checkout(db, path).state is CheckoutState.RESERVED
        assert pay(browser, path, provider=name).status_code == 303
        assert _payment(db, name).provider_ref != ref


# ---------------------------------------------------------------- the Razorpay page

razorpay_only = pytest.mark.parametrize("name", ["razorpay"], scope="module")


@razorpay_only
def test_the_razorpay_page_shows_the_amount_and_hands_checkout_its_data(fake, browser, db):
    path, ref, _variant = checkout_with_provider(browser, db, fake, "razorpay")
    page = browser.get(f"/pay/razorpay/{ref}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "$200.00" in html and "Pay with Razorpay</button>" in html
    for attribute in (
        f'data-key="{fake.key_id}"',
        f'data-order-id="{ref}"',
        'data-amount="20000"',
        'data-currency="USD"',
        'data-checkout-js="https://checkout.razorpay.com/v1/checkout.js"',
    ):
        assert attribute in html
    assert f'action="{path}/return"' in html
    for field in ("razorpay_payment_id", "razorpay_order_id", "razorpay_signature"):
        assert f'name="{field}"' in html
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all("src=" in tag for tag in scripts)  # no inline script
    assert any("/static/js/razorpay-pay.js" in tag for tag in scripts)

    csp = page.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    for directive in ("script-src", "frame-src", "connect-src"):
        assert RAZORPAY_ORIGINS in directives[directive]
    assert directives["script-src"].startswith("'self'")
    assert "unsafe-inline" not in csp and directives["frame-ancestors"] == "'none'"
    assert "razorpay" not in browser.get(path).headers["Content-Security-Policy"]

    params = fake.approve(ref)
    assert browser.client.get(f"{path}/return?{urlencode(params)}").status_code == 303
    after = browser.get(f"/pay/razorpay/{ref}").get_data(as_text=True)
    assert "This payment can no longer be made here." in after
    assert "Pay with Razorpay</button>" not in after


@razorpay_only
def test_the_razorpay_page_is_not_found_for_unknown_orders_strangers_or_when_disabled(
    fake, app, browser, db
):
    _path, ref, _variant = checkout_with_provider(browser, db, fake, "razorpay")
    assert browser.get("/pay/razorpay/order_unknown").status_code == 404
    assert Browser(app.test_client()).get(f"/pay/razorpay/{ref}").status_code == 404
    app.config["PAYMENT_PROVIDERS"] = ["testpay"]
    assert browser.get(f"/pay/razorpay/{ref}").status_code == 404
    app.config["PAYMENT_PROVIDERS"] = ["testpay", "razorpay"]
    assert browser.get(f"/pay/razorpay/{ref}").status_code == 200


@razorpay_only
def test_a_tampered_razorpay_return_completes_nothing(fake, browser, db):
    path, ref, _variant = checkout_with_provider(browser, db, fake, "razorpay")
    params = fake.approve(ref)
    forged = {**params, "razorpay_signature": "0" * 64}
    response = browser.client.get(f"{path}/return?{urlencode(forged)}")
    assert response.status_code != 303
    assert _orders(db) == []
    assert _checkout(db, path).state is CheckoutState.AWAITING_PAYMENT


@razorpay_only
def test_a_tampered_razorpay_return_is_refused_with_400(fake, browser, db):
    path, ref, _variant = checkout_with_provider(browser, db, fake, "razorpay")
    params = fake.approve(ref)
    forged = {**params, "razorpay_signature": "0" * 64}
    assert browser.client.get(f"{path}/return?{urlencode(forged)}").status_code == 400


# ---------------------------------------------------------------- keys at the provider

paypal_only = pytest.mark.parametrize("name", ["paypal"], scope="module")


@paypal_only
def test_two_shops_on_one_provider_account_each_capture_their_own_payment(
    name, fake, app, browser, db, tmp_path, sqlite_template
):
    shutil.copyfile(sqlite_template, tmp_path / "second-shop.db")
    second = make_test_app(
        f"sqlite:///{tmp_path / 'second-shop.db'}",
        PAYMENT_PROVIDERS=["testpay", name],
        **fake.settings,
    )
    try:
        paid_by_return(browser, db, fake, name)  # the first shop's payment 1 is captured
        engine = second.extensions["holdfast.db"].engine
        second_db = sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))()
        factories.bind(second_db)
        try:
            shopper = Browser(second.test_client())
            path, ref, _variant = checkout_with_provider(shopper, second_db, fake, name)
            landed = shopper.client.get(f"{path}/return?{urlencode(fake.approve(ref))}")
            assert landed.status_code == 303
            (order,) = _orders(second_db)
            assert order.status is OrderStatus.PAID
            assert captured_at_provider(fake, name, ref)  # paid for, not only marked paid
        finally:
            second_db.close()
    finally:
        factories.bind(db)
        second.extensions["holdfast.db"].dispose()


def test_the_provider_is_told_how_the_confirmed_total_is_made_up(browser, db, fake, name):
    uk_shop(db, inclusive=False)  # $4.00 shipping to GB, 20 % VAT added on goods and shipping
    fill_cart(browser, (variant_with_stock(db, 5, price_cents=PRICE), 1))
    path = checkout_path(start_checkout(browser))
    response = pay(browser, path, provider=name)
    assert response.status_code == 303, response.get_data(as_text=True)
    ref = _payment(db, name).provider_ref

    checkout = _checkout(db, path)
    assert (checkout.subtotal_cents, checkout.shipping_cents, checkout.tax_cents) == (
        PRICE,
        400,
        2080,
    )
    assert asked_cents(fake, name, ref) == checkout.total_cents == PRICE + 400 + 2080
    if name == "paypal":
        amount = fake.orders[ref]["purchase_units"][0]["amount"]
        parts = {k: Decimal(v["value"]) for k, v in amount["breakdown"].items()}
        assert parts == {
            "item_total": Decimal("100.00"),
            "shipping": Decimal("4.00"),
            "tax_total": Decimal("20.80"),
            "discount": Decimal("0.00"),
        }
    else:
        kept = fake.sessions[ref]["metadata"] if name == "stripe" else fake.orders[ref]["notes"]
        assert (kept["subtotal_cents"], kept["shipping_cents"], kept["tax_cents"]) == (
            str(PRICE),
            "400",
            "2080",
        )
