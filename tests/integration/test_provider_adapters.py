"""The PayPal, Stripe and Razorpay adapters taking, refunding and voiding payments and failing
well, each driving its real SDK against a fake of the provider's API on 127.0.0.1 (tests/fakes).
Nothing of ours is mocked; no network beyond the loopback; no database. Webhooks are in
test_provider_webhooks.py, the shopper's return in test_provider_returns.py.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from app.providers import PaymentProvider, PaymentStatus, ProviderError, get_provider
from tests.fakes import FakePayPal, FakeStripe
from tests.provider_adapter_fixtures import (  # noqa: F401 - pytest fixtures
    fixture_adapter,
    fixture_fake,
    fixture_name,
)
from tests.provider_adapter_helpers import (
    AMOUNT,
    key,
    paid,
    payment_request,
    signed_capture_webhook,
)

# ------------------------------------------------------------------ create, fetch, capture


def test_the_registry_builds_each_adapter_from_settings(name, adapter):
    assert adapter.name == name
    assert isinstance(adapter, PaymentProvider)


def test_create_gives_a_reference_and_where_to_send_the_shopper(name, fake, adapter):
    created = adapter.create(payment_request())

    assert created.status is PaymentStatus.PENDING
    expected_url = {
        "paypal": f"{fake.url}/checkoutnow?token={created.provider_ref}",
        "stripe": f"{fake.url}/c/pay/{created.provider_ref}",
        "razorpay": f"/pay/razorpay/{created.provider_ref}",
    }[name]
    assert created.approval_url == expected_url
    state = adapter.fetch(created.provider_ref)
    assert (state.status, state.amount_cents, state.currency) == (
        PaymentStatus.PENDING,
        AMOUNT,
        "USD",
    )
    assert state.captured_cents == 0


def test_creating_twice_with_one_idempotency_key_makes_one_payment(fake, adapter):
    request = payment_request()

    first = adapter.create(request)
    second = adapter.create(request)

    assert first.provider_ref == second.provider_ref
    stored = getattr(fake, "orders", None) or getattr(fake, "sessions", {})
    assert len(stored) == 1


def test_an_approved_payment_is_authorized_until_captured(fake, adapter):
    ref = adapter.create(payment_request()).provider_ref

    fake.approve(ref, capture=False)

    assert adapter.fetch(ref).status is PaymentStatus.AUTHORIZED


def test_capture_takes_the_money_and_capturing_again_changes_nothing(fake, adapter):
    ref = adapter.create(payment_request()).provider_ref
    fake.approve(ref, capture=False)

    first = adapter.capture(ref, key())
    again = adapter.capture(ref, key())

    assert first.status is again.status is PaymentStatus.CAPTURED
    assert first.captured_cents == again.captured_cents == AMOUNT
    assert first.capture_ref == again.capture_ref is not None
    assert adapter.fetch(ref).status is PaymentStatus.CAPTURED


@pytest.mark.parametrize("name", ["stripe", "razorpay"])
def test_a_payment_the_provider_captured_itself_reads_as_captured(fake, adapter):
    ref = adapter.create(payment_request()).provider_ref
    fake.approve(ref, capture=True)  # Stripe Checkout's default; Razorpay auto-capture

    calls_before = len(fake.calls)
    state = adapter.capture(ref, key())

    assert state.status is PaymentStatus.CAPTURED
    assert not [c for c in fake.calls[calls_before:] if c.startswith("POST")]


def test_capture_before_the_shopper_approves_is_refused_for_good(adapter):
    ref = adapter.create(payment_request()).provider_ref

    with pytest.raises(ProviderError) as raised:
        adapter.capture(ref, key())

    assert raised.value.retryable is False
    assert adapter.fetch(ref).status is PaymentStatus.PENDING


def test_a_declined_payment_cannot_be_captured_and_reads_as_failed(fake, adapter):
    ref = adapter.create(payment_request()).provider_ref
    fake.decline(ref)

    with pytest.raises(ProviderError) as raised:
        adapter.capture(ref, key())

    assert raised.value.retryable is False
    assert adapter.fetch(ref).status is PaymentStatus.FAILED


def test_paypal_amounts_are_sent_in_the_currencys_own_decimals():
    fake = FakePayPal()
    try:
        adapter = get_provider("paypal", fake.settings)
        usd = adapter.create(payment_request(1050, "USD")).provider_ref
        jpy = adapter.create(payment_request(1050, "JPY")).provider_ref

        assert fake.orders[usd]["purchase_units"][0]["amount"]["value"] == "10.50"
        assert fake.orders[jpy]["purchase_units"][0]["amount"]["value"] == "1050"
        assert adapter.fetch(jpy).amount_cents == 1050
    finally:
        fake.stop()


# ------------------------------------------------------------------ refund and void


def test_a_partial_then_a_full_refund_return_all_the_money(fake, adapter):
    ref = paid(fake, adapter)
    state = adapter.fetch(ref)

    partial = adapter.refund(state, 1000, key())
    after_partial = adapter.fetch(ref)
    rest = adapter.refund(after_partial, AMOUNT - 1000, key())
    after_full = adapter.fetch(ref)

    assert (partial.amount_cents, partial.currency, partial.status) == (1000, "USD", "succeeded")
    assert (after_partial.status, after_partial.refunded_cents) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        1000,
    )
    assert rest.amount_cents == AMOUNT - 1000
    assert (after_full.status, after_full.refunded_cents) == (PaymentStatus.REFUNDED, AMOUNT)


def test_a_refund_repeated_with_its_key_refunds_once(fake, adapter):
    ref = paid(fake, adapter)
    state = adapter.fetch(ref)
    refund_key = key()

    first = adapter.refund(state, 700, refund_key)
    again = adapter.refund(state, 700, refund_key)

    assert first.provider_refund_id == again.provider_refund_id
    assert adapter.fetch(ref).refunded_cents == 700


def test_refunding_more_than_remains_is_refused_for_good(fake, adapter):
    ref = paid(fake, adapter)
    adapter.refund(adapter.fetch(ref), 2000, key())

    with pytest.raises(ProviderError) as raised:
        adapter.refund(adapter.fetch(ref), 1000, key())

    assert raised.value.retryable is False


def test_void_before_capture_is_quiet_and_can_be_repeated(name, adapter):
    ref = adapter.create(payment_request()).provider_ref

    adapter.void(ref)
    adapter.void(ref)

    # Stripe expires the session; PayPal and Razorpay cannot cancel an order (it lapses on
    # its own and we never capture it), so theirs stays pending.
    expected = PaymentStatus.VOIDED if name == "stripe" else PaymentStatus.PENDING
    assert adapter.fetch(ref).status is expected


def test_void_after_capture_refuses_and_says_refund_instead(fake, adapter):
    ref = paid(fake, adapter)

    with pytest.raises(ProviderError, match="refund") as raised:
        adapter.void(ref)

    assert raised.value.retryable is False


def test_stripe_void_cancels_a_payment_held_for_capture():
    fake = FakeStripe()
    try:
        adapter = get_provider("stripe", fake.settings)
        ref = adapter.create(payment_request()).provider_ref
        fake.approve(ref, capture=False)

        adapter.void(ref)

        assert adapter.fetch(ref).status is PaymentStatus.VOIDED
        with pytest.raises(ProviderError):
            adapter.capture(ref, key())
    finally:
        fake.stop()


# ------------------------------------------------------------------ failures


def test_an_unreachable_provider_is_a_retryable_error(fake, adapter):
    ref = paid(fake, adapter)
    state = adapter.fetch(ref)
    fake.stop()

    calls = [
        lambda: adapter.create(payment_request()),
        lambda: adapter.fetch(ref),
        lambda: adapter.capture(ref, key()),
        lambda: adapter.refund(state, 100, key()),
        lambda: adapter.void(ref),
    ]
    for call in calls:
        with pytest.raises(ProviderError) as raised:
            call()
        assert raised.value.retryable is True


@pytest.mark.parametrize("name", ["paypal"])
def test_paypal_webhook_check_with_paypal_unreachable_is_retryable(fake, adapter):
    headers, body = signed_capture_webhook(fake, adapter)
    fake.stop()

    with pytest.raises(ProviderError) as raised:
        adapter.parse_webhook(headers, body)

    assert raised.value.retryable is True


@pytest.mark.parametrize("status", [500, 503, 429])
def test_provider_errors_and_rate_limits_are_retryable_and_the_next_call_succeeds(
    fake, adapter, status
):
    ref = adapter.create(payment_request()).provider_ref
    fake.fail_next(status)

    with pytest.raises(ProviderError) as raised:
        adapter.fetch(ref)

    assert raised.value.retryable is True
    assert adapter.fetch(ref).status is PaymentStatus.PENDING


def test_an_unknown_reference_is_refused_for_good(adapter):
    with pytest.raises(ProviderError) as raised:
        adapter.fetch("does-not-exist")

    assert raised.value.retryable is False


def test_wrong_credentials_are_refused_for_good(name, fake):
    settings = dict(fake.settings)
    for setting in ("PAYPAL_CLIENT_SECRET", "STRIPE_SECRET_KEY", "RAZORPAY_KEY_SECRET"):
        if setting in settings:
            settings[setting] = "wrong"
    adapter = get_provider(name, settings)

    with pytest.raises(ProviderError) as raised:
        adapter.create(payment_request())

    assert raised.value.retryable is False


def test_paypal_shares_one_oauth_token_between_adapters():
    fake = FakePayPal()
    try:
        for _ in range(3):
            adapter = get_provider("paypal", fake.settings)
            adapter.fetch(adapter.create(payment_request()).provider_ref)

        assert fake.calls.count("POST /v1/oauth2/token") == 1
    finally:
        fake.stop()


def test_paypal_fetches_a_new_token_when_paypal_refuses_the_cached_one():
    fake = FakePayPal()
    try:
        adapter = get_provider("paypal", fake.settings)
        ref = adapter.create(payment_request()).provider_ref
        fake.tokens.clear()  # PayPal revoked every token

        assert adapter.fetch(ref).status is PaymentStatus.PENDING
        assert fake.calls.count("POST /v1/oauth2/token") == 2
    finally:
        fake.stop()


def test_results_are_plain_data_not_sdk_objects(fake, adapter):
    created = adapter.create(payment_request())
    fake.approve(created.provider_ref, capture=True)
    state = adapter.capture(created.provider_ref, key())
    refund = adapter.refund(state, 100, key())

    for raw in (created.raw, state.raw, refund.raw):
        assert json.loads(json.dumps(raw)) == raw
    assert type(state.status) is PaymentStatus


def test_stripe_session_expiry_is_clamped_into_stripes_window():
    fake = FakeStripe()
    try:
        adapter = get_provider("stripe", fake.settings)
        short = adapter.create(payment_request(hold=timedelta(minutes=15))).provider_ref
        long = adapter.create(payment_request(hold=timedelta(hours=48))).provider_ref
        now = time.time()

        assert now + 30 * 60 <= fake.sessions[short]["expires_at"] <= now + 32 * 60
        assert now + 23 * 3600 <= fake.sessions[long]["expires_at"] <= now + 24 * 3600
    finally:
        fake.stop()
