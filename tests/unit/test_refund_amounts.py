"""Refunds of an order kept as plain amounts (services/pricing/refunds.py ``split_paid`` and
``split_units``, what ``services/orders/refund_tax`` uses): worked examples, then properties
over any mix of refunds by amount and returns of units: the tax returned never exceeds the tax
paid, never exceeds a refund's money, and is exactly the tax paid once everything is back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.pricing.errors import PricingError
from app.services.pricing.refunds import Paid, PaidLine, split_paid, split_units

ORDER = Paid(total_cents=5280, tax_cents=880)  # $40.00 + $4.00 shipping + 20 % tax


def test_partial_refunds_return_tax_pro_rata_and_the_last_one_the_rest():
    first = split_paid(ORDER, 1000)
    second = split_paid(ORDER, 2000, 1000, first.tax_cents)
    rest = split_paid(ORDER, 2280, 3000, first.tax_cents + second.tax_cents)
    assert [first.tax_cents, second.tax_cents, rest.tax_cents] == [167, 333, 380]


def test_without_the_tax_returned_before_it_is_taken_as_the_pro_rata_share():
    assert split_paid(ORDER, 2000, 1000).tax_cents == 333


def test_after_a_return_an_amount_refund_tops_the_tax_up_to_its_share_only():
    # a return gave back one tee: $24.00 of which $4.00 tax (more than its share of 52.80)
    after_return = split_paid(ORDER, 500, 2400, 400)
    assert after_return.tax_cents == 83  # 8.80 × 29/52.80 = 4.83 → 0.83 more
    everything = split_paid(ORDER, 2880, 2400, 400)
    assert everything.tax_cents == 480


def test_a_refund_beyond_the_total_is_refused():
    with pytest.raises(PricingError, match="left to refund"):
        split_paid(ORDER, 100, 5200)


def test_units_return_their_share_of_the_line_and_the_last_the_rest():
    line = PaidLine(quantity=3, total_cents=1000, tax_cents=167)
    parts = [split_units(line, 1, 0), split_units(line, 1, 1), split_units(line, 1, 2)]
    assert parts == [(334, 56), (332, 55), (334, 56)]
    assert sum(m for m, _t in parts) == 1000 and sum(t for _m, t in parts) == 167
    with pytest.raises(PricingError, match="Only 0 of 3"):
        split_units(line, 1, 3)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 100_000), st.data())
def test_any_mix_of_refunds_never_returns_more_tax_than_paid_and_all_returns_it(total, data):
    tax = data.draw(st.integers(0, total))
    order = Paid(total, tax)
    money = returned = 0
    while money < total:
        amount = data.draw(st.integers(1, total - money))
        last = money + amount == total
        if not last and data.draw(st.booleans()):  # a return of units says its own tax
            part = min(data.draw(st.integers(0, amount)), tax - returned)
        else:
            part = split_paid(order, amount, money, returned).tax_cents
        assert 0 <= part <= amount
        money, returned = money + amount, returned + part
        assert returned <= tax
        if last:  # the last refund, by amount, returns all the tax left that its money holds
            assert returned == tax or part == amount
