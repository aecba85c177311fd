"""The provider is told how the amount it charges is made up (subtotal, discount, shipping,
tax), in the way each one takes it, and the parts always make exactly the amount: PayPal's
purchase unit breakdown (its fake refuses one that does not add up, as PayPal does), Stripe's
metadata, Razorpay's notes. No database; each adapter drives its real SDK against its fake."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.providers import ChargeBreakdown
from tests.provider_adapter_fixtures import (  # noqa: F401 - pytest fixtures
    fixture_adapter,
    fixture_fake,
    fixture_name,
)
from tests.provider_adapter_helpers import payment_request

# $50.00 of goods − $10.00 (WELCOME10) + $4.00 shipping; 20 % tax on the goods and shipping.
EXCLUSIVE = ChargeBreakdown(
    items_cents=5000, discount_cents=1000, shipping_cents=400, tax_cents=880, tax_included=False
)  # 5000 − 1000 + 400 + 880 = 5280
INCLUSIVE = ChargeBreakdown(
    items_cents=5000, discount_cents=1000, shipping_cents=400, tax_cents=734, tax_included=True
)  # 5000 − 1000 + 400 = 4400, of which 7.34 tax


def _sent(name, fake, ref) -> dict:
    """What the provider kept of the breakdown: PayPal's amount, Stripe's metadata or
    Razorpay's notes."""
    if name == "paypal":
        return fake.orders[ref]["purchase_units"][0]["amount"]
    if name == "stripe":
        return fake.sessions[ref]["metadata"]
    return fake.orders[ref]["notes"]


def _paypal_parts(amount: dict) -> dict[str, Decimal]:
    return {key: Decimal(part["value"]) for key, part in amount["breakdown"].items()}


@pytest.mark.parametrize(("parts", "total"), [(EXCLUSIVE, 5280), (INCLUSIVE, 4400)])
def test_the_breakdown_reaches_the_provider_and_makes_exactly_the_amount(
    name, fake, adapter, parts, total
):
    ref = adapter.create(payment_request(total, breakdown=parts)).provider_ref

    sent = _sent(name, fake, ref)
    if name == "paypal":
        got = _paypal_parts(sent)
        tax = Decimal("0.00") if parts.tax_included else Decimal("8.80")
        assert got == {
            "item_total": Decimal("50.00"),
            "discount": Decimal("10.00"),
            "shipping": Decimal("4.00"),
            "tax_total": tax,
        }
        assert got["item_total"] + got["tax_total"] + got["shipping"] - got["discount"] == (
            Decimal(sent["value"])
        )
        assert Decimal(sent["value"]) == Decimal(total) / 100
    else:
        assert {k: sent[k] for k in parts.as_metadata()} == {
            "subtotal_cents": "5000",
            "discount_cents": "1000",
            "shipping_cents": "400",
            "tax_cents": str(parts.tax_cents),
            "tax_included": "true" if parts.tax_included else "false",
        }
        assert sent["checkout_ref"].startswith("CHK-")
    assert adapter.fetch(ref).amount_cents == total


def test_a_breakdown_that_does_not_make_the_amount_is_left_out_and_the_amount_charged(
    name, fake, adapter
):
    ref = adapter.create(payment_request(5000, breakdown=EXCLUSIVE)).provider_ref

    sent = _sent(name, fake, ref)
    assert "breakdown" not in sent and "subtotal_cents" not in sent
    assert adapter.fetch(ref).amount_cents == 5000


def test_a_request_without_a_breakdown_is_made_as_before(name, fake, adapter):
    ref = adapter.create(payment_request(2500)).provider_ref

    sent = _sent(name, fake, ref)
    assert "breakdown" not in sent and "subtotal_cents" not in sent
    assert adapter.fetch(ref).amount_cents == 2500


def test_the_paypal_fake_refuses_a_breakdown_that_does_not_add_up():
    from tests.fakes import FakePayPal

    fake = FakePayPal()
    try:
        amount = {
            "currency_code": "USD",
            "value": "10.00",
            "breakdown": {"item_total": {"currency_code": "USD", "value": "9.00"}},
        }
        status, _body = fake._create({"intent": "CAPTURE", "purchase_units": [{"amount": amount}]})
        assert status == 422
    finally:
        fake.stop()
