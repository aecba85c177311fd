"""The PayPal, Stripe and Razorpay adapters checking the shopper's return from the provider's
page: with the provider, not from the return's parameters (Razorpay: by their signature). Each
adapter drives its real SDK against a fake of the provider's API on 127.0.0.1 (tests/fakes).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.providers import InvalidSignature, PaymentProvider, PaymentStatus, get_provider
from tests.fakes import FakeRazorpay
from tests.provider_adapter_fixtures import (  # noqa: F401 - pytest fixtures
    fixture_adapter,
    fixture_fake,
    fixture_name,
)
from tests.provider_adapter_helpers import payment_request

# ------------------------------------------------------------------ the shopper's return


@pytest.mark.parametrize("name", ["paypal", "stripe"])
def test_the_return_is_checked_with_the_provider_not_taken_from_its_parameters(fake, adapter):
    ref = adapter.create(payment_request()).provider_ref
    lies = {"token": ref, "session_id": ref, "PayerID": "X", "status": "COMPLETED"}

    assert adapter.verify_return(ref, lies).status is PaymentStatus.PENDING
    fake.approve(ref, capture=False)
    assert adapter.verify_return(ref, {}).status is PaymentStatus.AUTHORIZED


@pytest.fixture
def razorpay_order() -> Iterator[tuple[FakeRazorpay, PaymentProvider, str]]:
    fake = FakeRazorpay()
    adapter = get_provider("razorpay", fake.settings)
    yield fake, adapter, adapter.create(payment_request()).provider_ref
    fake.stop()


def test_razorpay_return_with_a_valid_signature_reads_the_payment(razorpay_order):
    fake, adapter, ref = razorpay_order
    params = fake.approve(ref)

    state = adapter.verify_return(ref, params)

    assert state.status is PaymentStatus.AUTHORIZED
    assert state.capture_ref == params["razorpay_payment_id"]


@pytest.mark.parametrize(
    "spoil",
    [
        lambda p: {**p, "razorpay_signature": "0" * 64},
        lambda p: {**p, "razorpay_payment_id": "pay_someoneelse"},
        lambda p: {k: v for k, v in p.items() if k != "razorpay_signature"},
        lambda p: {**p, "razorpay_signature": "é" * 64},
        lambda p: {},
    ],
    ids=["forged", "other payment", "missing", "not ascii", "empty"],
)
def test_razorpay_return_without_a_valid_signature_is_rejected(razorpay_order, spoil):
    fake, adapter, ref = razorpay_order
    params = fake.approve(ref)

    with pytest.raises(InvalidSignature):
        adapter.verify_return(ref, spoil(params))


def test_razorpay_return_signed_for_another_order_is_rejected(razorpay_order):
    fake, adapter, ref = razorpay_order
    other = adapter.create(payment_request()).provider_ref
    params = fake.approve(other)

    with pytest.raises(InvalidSignature):
        adapter.verify_return(ref, params)
