"""Helpers for the provider adapter tests (tests/integration/test_provider_adapters.py,
test_provider_webhooks.py and test_provider_returns.py): the fake of each provider's API
(tests/fakes), a payment request, and a payment taken or a webhook signed through an adapter.
Their fixtures are in tests/provider_adapter_fixtures.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from app.providers import ChargeBreakdown, PaymentProvider, PaymentRequest, PaymentStatus
from tests.fakes import FakePayPal, FakeProvider, FakeRazorpay, FakeStripe

FAKES: dict[str, type[FakeProvider]] = {
    "paypal": FakePayPal,
    "stripe": FakeStripe,
    "razorpay": FakeRazorpay,
}
PROVIDERS = list(FAKES)
AMOUNT = 2500
MONEY_TAKEN = {PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}


def payment_request(
    amount_cents: int = AMOUNT,
    currency: str = "USD",
    hold: timedelta = timedelta(minutes=15),
    breakdown: ChargeBreakdown | None = None,
) -> PaymentRequest:
    return PaymentRequest(
        breakdown=breakdown,
        checkout_ref=f"CHK-{uuid.uuid4().hex[:8]}",
        amount_cents=amount_cents,
        currency=currency,
        description="Holdfast order",
        return_url="https://shop.example/checkout/return",
        cancel_url="https://shop.example/checkout/cancel",
        expires_at=datetime.now(UTC) + hold,
        idempotency_key=f"pay-{uuid.uuid4().hex}",
        customer_email="shopper@example.com",
    )


def key() -> str:
    return uuid.uuid4().hex


def paid(fake: FakeProvider, adapter: PaymentProvider) -> str:
    """A payment the shopper approved and we captured; returns its provider_ref."""
    ref = adapter.create(payment_request()).provider_ref
    fake.approve(ref, capture=True)
    adapter.capture(ref, key())
    return ref


def signed_capture_webhook(fake: FakeProvider, adapter: PaymentProvider, **kw):
    ref = paid(fake, adapter)
    event_type = {"paypal": "PAYMENT.CAPTURE.COMPLETED", "stripe": "checkout.session.completed"}
    return fake.webhook(event_type.get(adapter.name, "payment.captured"), ref, **kw)
