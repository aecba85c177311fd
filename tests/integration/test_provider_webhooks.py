"""The PayPal, Stripe and Razorpay adapters reading webhooks: a correctly signed one is reduced
to what we act on; a forged, changed, unsigned or stale one is rejected. Each adapter drives its
real SDK against a fake of the provider's API on 127.0.0.1 (tests/fakes); no database.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from app.providers import InvalidSignature, WebhookKind, get_provider
from tests.fakes import FakeRazorpay, FakeStripe
from tests.provider_adapter_fixtures import (  # noqa: F401 - pytest fixtures
    fixture_adapter,
    fixture_fake,
    fixture_name,
)
from tests.provider_adapter_helpers import paid, payment_request, signed_capture_webhook

# ------------------------------------------------------------------ webhooks

WEBHOOKS = [
    ("paypal", "PAYMENT.CAPTURE.COMPLETED", WebhookKind.CAPTURED),
    ("paypal", "CHECKOUT.ORDER.APPROVED", WebhookKind.AUTHORIZED),
    ("paypal", "PAYMENT.CAPTURE.DENIED", WebhookKind.FAILED),
    ("paypal", "PAYMENT.CAPTURE.DECLINED", WebhookKind.FAILED),
    ("paypal", "PAYMENT.CAPTURE.REFUNDED", WebhookKind.REFUNDED),
    ("paypal", "PAYMENT.CAPTURE.PENDING", WebhookKind.OTHER),
    ("stripe", "checkout.session.completed", WebhookKind.CAPTURED),
    ("stripe", "checkout.session.expired", WebhookKind.FAILED),
    ("stripe", "payment_intent.payment_failed", WebhookKind.FAILED),
    ("stripe", "charge.refunded", WebhookKind.REFUNDED),
    ("stripe", "checkout.session.async_payment_failed", WebhookKind.FAILED),
    ("razorpay", "payment.captured", WebhookKind.CAPTURED),
    ("razorpay", "payment.authorized", WebhookKind.AUTHORIZED),
    ("razorpay", "payment.failed", WebhookKind.FAILED),
    ("razorpay", "refund.processed", WebhookKind.REFUNDED),
    ("razorpay", "order.paid", WebhookKind.OTHER),
]


@pytest.mark.parametrize(("name", "event_type", "kind"), WEBHOOKS)
def test_a_correctly_signed_webhook_is_reduced_to_what_we_act_on(fake, adapter, event_type, kind):
    ref = paid(fake, adapter)
    headers, body = fake.webhook(event_type, ref, amount_cents=1500)

    event = adapter.parse_webhook(headers, body)

    assert (event.kind, event.provider_ref, event.raw_type) == (kind, ref, event_type)
    assert (event.amount_cents, event.currency) == (1500, "USD")
    assert event.event_id
    assert json.loads(json.dumps(event.payload)) == json.loads(body)


def test_webhook_headers_are_read_whatever_their_case(fake, adapter):
    ref = paid(fake, adapter)
    event_type = {"paypal": "PAYMENT.CAPTURE.COMPLETED", "stripe": "checkout.session.completed"}
    headers, body = fake.webhook(event_type.get(adapter.name, "payment.captured"), ref)

    for fold in (str.lower, str.upper, str.title):
        folded = {fold(k): v for k, v in headers.items()}
        assert adapter.parse_webhook(folded, body).kind is WebhookKind.CAPTURED


def test_a_forged_webhook_signature_is_rejected(fake, adapter):
    headers, body = signed_capture_webhook(fake, adapter, forged=True)

    with pytest.raises(InvalidSignature):
        adapter.parse_webhook(headers, body)


def test_a_webhook_body_changed_after_signing_is_rejected(fake, adapter):
    headers, body = signed_capture_webhook(fake, adapter)
    tampered = json.dumps({**json.loads(body), "tampered": True}).encode()

    with pytest.raises(InvalidSignature):
        adapter.parse_webhook(headers, tampered)


@pytest.mark.parametrize("present", ["none", "all but the signature"])
def test_a_webhook_without_its_signature_header_is_invalid_not_a_key_error(fake, adapter, present):
    headers, body = signed_capture_webhook(fake, adapter)
    signature_header = {
        "paypal": "PAYPAL-TRANSMISSION-SIG",
        "stripe": "Stripe-Signature",
        "razorpay": "X-Razorpay-Signature",
    }[adapter.name]
    kept = {} if present == "none" else {k: v for k, v in headers.items() if k != signature_header}
    calls_before = len(fake.calls)

    with pytest.raises(InvalidSignature):
        adapter.parse_webhook(kept, body)

    assert fake.calls[calls_before:] == []  # rejected without asking the provider


def test_a_webhook_is_rejected_when_the_shop_has_no_webhook_secret(name, fake):
    settings = dict(fake.settings)
    for setting in ("PAYPAL_WEBHOOK_ID", "STRIPE_WEBHOOK_SECRET", "RAZORPAY_WEBHOOK_SECRET"):
        settings.pop(setting, None)
    adapter = get_provider(name, settings)
    headers, body = signed_capture_webhook(fake, adapter)

    with pytest.raises(InvalidSignature):
        adapter.parse_webhook(headers, body)


def test_stripe_rejects_a_webhook_signed_more_than_300_seconds_ago():
    fake = FakeStripe()
    try:
        adapter = get_provider("stripe", fake.settings)
        now = int(time.time())
        fresh = signed_capture_webhook(fake, adapter, signed_at=now - 290)
        stale = signed_capture_webhook(fake, adapter, signed_at=now - 301)

        assert adapter.parse_webhook(*fresh).kind is WebhookKind.CAPTURED
        with pytest.raises(InvalidSignature):
            adapter.parse_webhook(*stale)
    finally:
        fake.stop()


def test_stripe_checkout_completed_but_unpaid_is_not_a_capture():
    fake = FakeStripe()
    try:
        adapter = get_provider("stripe", fake.settings)
        ref = adapter.create(payment_request()).provider_ref
        fake.approve(ref, capture=False)

        event = adapter.parse_webhook(*fake.webhook("checkout.session.completed", ref))

        assert event.kind is WebhookKind.OTHER
    finally:
        fake.stop()


def test_razorpay_webhook_without_event_id_header_gets_one_from_the_body():
    fake = FakeRazorpay()
    try:
        adapter = get_provider("razorpay", fake.settings)
        headers, body = signed_capture_webhook(fake, adapter)
        headers.pop("X-Razorpay-Event-Id")

        first = adapter.parse_webhook(headers, body)
        again = adapter.parse_webhook(headers, body)

        assert first.event_id == again.event_id == hashlib.sha256(body).hexdigest()
    finally:
        fake.stop()


@pytest.mark.parametrize("name", ["stripe", "razorpay"])  # PayPal's check asks PayPal
def test_stripe_and_razorpay_webhooks_verify_without_calling_the_provider(fake, adapter):
    headers, body = signed_capture_webhook(fake, adapter)
    fake.stop()

    assert adapter.parse_webhook(headers, body).kind is WebhookKind.CAPTURED
