"""Pricing (app/services/pricing): worked examples a shop owner could check by hand, then
properties Hypothesis checks over many carts: the total adds up, is never negative, the
discount shares sum to the discount, everything is whole cents, refunds never return more tax
than was paid and a full refund returns exactly the tax paid."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.pricing.discounts import Discount
from app.services.pricing.errors import PricingError
from app.services.pricing.quote import CartLine, PriceRequest, Quote, TaxMode, quote
from app.services.pricing.refunds import refund_split
from app.services.pricing.rounding import half_up, split_pro_rata
from app.services.pricing.shipping import FlatRate, FreeAbove, WeightBand, WeightBandRate
from app.services.pricing.tax import Destination, TaxRate

US = Destination("US", "NY")
DE = Destination("DE")
BANDS = WeightBandRate((WeightBand(500, 400), WeightBand(2000, 900), WeightBand(5000, 1500)))
VAT = TaxRate("20", "DE", applies_to_shipping=True)


def tee(variant=1, price=2500, quantity=1, product=None, **options) -> CartLine:
    return CartLine(variant, product or variant, price, quantity, **options)


def priced(*lines, currency="USD", **options) -> Quote:
    return quote(PriceRequest(currency, tuple(lines), **options))


# Shipping


def test_a_flat_rate_is_charged_once_per_order():
    order = priced(tee(quantity=2), tee(2, 1000), shipping_rate=FlatRate(500))
    assert (order.lines_subtotal_cents, order.shipping_cents) == (6000, 500)
    assert order.grand_total_cents == 6500


def test_a_weight_band_rate_charges_the_band_the_parcel_fits_in():
    light = priced(tee(quantity=1, weight_grams=500), shipping_rate=BANDS)
    heavier = priced(tee(quantity=3, weight_grams=400), shipping_rate=BANDS)
    assert (light.shipping_cents, heavier.weight_grams, heavier.shipping_cents) == (400, 1200, 900)


def test_a_cart_heavier_than_the_last_band_is_refused_in_words():
    with pytest.raises(PricingError, match="cannot carry 6000 g"):
        priced(tee(quantity=3, weight_grams=2000), shipping_rate=BANDS)


def test_shipping_is_free_from_the_threshold_on_after_the_discount():
    rate = FreeAbove(5000, FlatRate(700))
    assert priced(tee(price=4999), shipping_rate=rate).shipping_cents == 700
    assert priced(tee(price=5000), shipping_rate=rate).shipping_cents == 0
    discounted = priced(tee(price=5000), shipping_rate=rate, discount=Discount.percentage(1000))
    assert (discounted.discount_cents, discounted.shipping_cents) == (500, 700)


def test_a_digital_only_cart_pays_no_shipping_and_needs_no_address():
    ebook = tee(price=900, is_digital=True, weight_grams=0)
    order = priced(ebook, shipping_rate=FlatRate(500))
    assert (order.requires_shipping, order.shipping_cents, order.grand_total_cents) == (
        False,
        0,
        900,
    )


def test_digital_lines_add_no_weight_to_a_mixed_cart():
    order = priced(tee(weight_grams=300), tee(2, 900, is_digital=True, weight_grams=999))
    assert (order.requires_shipping, order.weight_grams) == (True, 300)


# Tax


def test_fifty_less_ten_at_twenty_percent_inclusive_is_forty_with_667_tax():
    order = priced(
        tee(price=5000),
        currency="EUR",
        tax_mode=TaxMode.INCLUSIVE,
        destination=DE,
        tax_rates=(VAT,),
        discount=Discount.fixed(1000, "EUR"),
    )
    line = order.lines[0]
    assert (order.grand_total_cents, order.tax_cents) == (4000, 667)
    assert (line.taxable_cents, line.tax_cents, line.total_cents) == (3333, 667, 4000)


def test_the_same_cart_with_prices_before_tax_adds_the_tax():
    order = priced(
        tee(price=5000),
        currency="EUR",
        destination=DE,
        tax_rates=(VAT,),
        discount=Discount.fixed(1000, "EUR"),
    )
    assert (order.tax_cents, order.grand_total_cents) == (800, 4800)


def test_tax_is_rounded_half_up_on_each_line_not_on_the_sum():
    # 8.875 % of $1.99 is 17.66 cents: 18 per line, 36 in all (the sum's 35.3 would give 35).
    rate = TaxRate("8.875", "US", "NY")
    order = priced(tee(1, 199), tee(2, 199), destination=US, tax_rates=(rate,))
    assert [line.tax_cents for line in order.lines] == [18, 18]
    assert (order.tax_cents, order.grand_total_cents) == (36, 434)


def test_shipping_is_taxed_only_where_the_rate_says_so():
    taxed = priced(tee(price=1000), destination=DE, tax_rates=(VAT,), shipping_rate=FlatRate(500))
    untaxed_rate = dataclasses.replace(VAT, applies_to_shipping=False)
    untaxed = priced(
        tee(price=1000), destination=DE, tax_rates=(untaxed_rate,), shipping_rate=FlatRate(500)
    )
    assert (taxed.shipping_tax_cents, taxed.tax_cents, taxed.grand_total_cents) == (100, 300, 1800)
    assert (untaxed.shipping_tax_cents, untaxed.grand_total_cents) == (0, 1700)


def test_inclusive_shipping_has_its_tax_taken_out_not_added():
    order = priced(
        tee(price=1200),
        destination=DE,
        tax_rates=(VAT,),
        tax_mode=TaxMode.INCLUSIVE,
        shipping_rate=FlatRate(600),
    )
    assert (order.shipping_tax_cents, order.tax_cents, order.grand_total_cents) == (100, 300, 1800)


def test_a_region_rate_replaces_the_country_rate_and_categories_have_their_own():
    rates = (
        TaxRate("21", "ES"),
        TaxRate("0", "ES", "CN"),
        TaxRate("10", "ES", category="reduced"),
    )
    mainland = priced(
        tee(price=1000),
        tee(2, 1000, tax_category="reduced"),
        tax_rates=rates,
        destination=Destination("ES"),
    )
    canaries = priced(tee(price=1000), tax_rates=rates, destination=Destination("es", "cn"))
    assert [line.tax_cents for line in mainland.lines] == [210, 100]
    assert canaries.tax_cents == 0


def test_no_destination_or_no_rate_for_it_means_no_tax():
    assert priced(tee(), tax_rates=(VAT,)).tax_cents == 0
    assert priced(tee(), tax_rates=(VAT,), destination=US).tax_cents == 0


def test_modes_and_kinds_given_as_words_mean_the_same_and_others_are_refused():
    inclusive = priced(tee(price=1200), destination=DE, tax_rates=(VAT,), tax_mode="inclusive")
    assert (inclusive.tax_cents, inclusive.grand_total_cents) == (200, 1200)
    assert Discount("fixed", 100, currency="USD").amount_for(50) == 50
    with pytest.raises(PricingError, match="not a tax mode"):
        priced(tee(), tax_mode="gross")
    with pytest.raises(PricingError, match="not a kind of discount"):
        Discount("bogof", 1)


def test_a_rate_in_basis_points_is_the_same_rate():
    assert TaxRate.from_basis_points(2000, "DE").percent == Decimal("20")
    assert TaxRate.from_basis_points(888, "US").percent == Decimal("8.88")


# Discounts


def test_a_percentage_discount_is_shared_over_the_lines_to_the_cent():
    order = priced(tee(1, 1000), tee(2, 1999), discount=Discount.percentage(1000, code="WELCOME10"))
    assert order.discount_cents == 300  # 10 % of $29.99 is 299.9 cents
    assert [line.discount_cents for line in order.lines] == [100, 200]
    assert (order.grand_total_cents, order.discount_code) == (2699, "WELCOME10")


def test_a_discount_on_chosen_products_leaves_the_others_alone():
    code = Discount.fixed(500, "USD", product_ids=frozenset({7}))
    order = priced(tee(1, 2000, product=7), tee(2, 3000, product=8), discount=code)
    assert [line.discount_cents for line in order.lines] == [500, 0]
    assert order.grand_total_cents == 4500


def test_a_minimum_spend_not_met_takes_nothing_off():
    code = Discount.percentage(1000, minimum_spend_cents=5000, code="BIG10")
    order = priced(tee(price=4999), discount=code)
    assert (order.discount_cents, order.discount_code, order.grand_total_cents) == (0, None, 4999)
    assert priced(tee(price=5000), discount=code).discount_cents == 500


def test_a_discount_larger_than_what_it_applies_to_is_clipped_to_it():
    code = Discount.fixed(5000, "USD", product_ids=frozenset({7}))
    order = priced(tee(1, 1200, product=7), tee(2, 3000, product=8), discount=code)
    assert [line.discount_cents for line in order.lines] == [1200, 0]
    assert order.grand_total_cents == 3000


def test_what_cannot_be_priced_is_refused_in_words():
    with pytest.raises(PricingError, match="priced in EUR"):
        priced(tee(), shipping_rate=FlatRate(500, "EUR"))
    with pytest.raises(PricingError, match="in EUR, not USD"):
        priced(tee(), discount=Discount.fixed(100, "EUR"))
    with pytest.raises(PricingError, match="one line only"):
        priced(tee(1), tee(1))
    with pytest.raises(PricingError, match="A price must be a whole number"):
        tee(price=-1)
    with pytest.raises(PricingError, match="A price must be a whole number"):
        tee(price=12.5)  # a fraction of a cent never gets in
    with pytest.raises(PricingError, match="more than 100 %"):
        Discount.percentage(10_001)
    with pytest.raises(PricingError):
        TaxRate("abc", "DE")


# Rounding helpers


def test_halves_round_up_and_a_split_sums_exactly():
    from fractions import Fraction

    assert [half_up(Fraction(n, 2)) for n in (1, 3, 5)] == [1, 2, 3]
    assert split_pro_rata(100, [1, 1, 1]) == [34, 33, 33]
    assert split_pro_rata(0, [0, 0]) == [0, 0]


# Refunds


def _vat_order() -> Quote:
    return priced(
        tee(1, 1000, quantity=3),
        tee(2, 2500),
        destination=DE,
        tax_rates=(VAT,),
        shipping_rate=FlatRate(500),
    )


def test_returning_one_of_three_units_returns_a_third_of_that_lines_tax():
    order = _vat_order()  # line 1: 3000 + 600 tax; line 2: 2500 + 500; shipping 500 + 100
    split = refund_split(order, {1: 1})
    assert (split.amount_cents, split.tax_cents) == (1200, 200)


def test_returning_everything_returns_exactly_the_tax_paid():
    order = _vat_order()
    first = refund_split(order, {1: 1})
    rest = refund_split(order, {1: 2, 2: 1}, {1: 1}, shipping=True)
    assert first.tax_cents + rest.tax_cents == order.tax_cents == 1200
    assert first.amount_cents + rest.amount_cents == order.grand_total_cents == 7200


def test_refunds_by_amount_return_tax_pro_rata_and_all_of_it_at_the_end():
    order = _vat_order()
    halves = [refund_split(order, 3600), refund_split(order, 3600, 3600)]
    assert [half.tax_cents for half in halves] == [600, 600]


def test_a_refund_beyond_what_is_left_is_refused():
    order = _vat_order()
    with pytest.raises(PricingError, match="left to refund"):
        refund_split(order, 100, order.grand_total_cents)
    with pytest.raises(PricingError, match="can be refunded"):
        refund_split(order, {1: 2}, {1: 2})
    with pytest.raises(PricingError, match="not on this order"):
        refund_split(order, {9: 1})


# Properties

PROPERTY = settings(max_examples=200, deadline=None)
PERCENTS = st.sampled_from(["0", "5", "5.5", "7.7", "8.875", "19", "20", "25", "100"])


@st.composite
def lines(draw):
    count = draw(st.integers(1, 6))
    return tuple(
        CartLine(
            variant_id=index + 1,
            product_id=draw(st.integers(1, 4)),
            unit_price_cents=draw(st.integers(0, 100_000)),
            quantity=draw(st.integers(1, 20)),
            tax_category=draw(st.sampled_from(["standard", "reduced"])),
            weight_grams=draw(st.integers(0, 800)),
            is_digital=draw(st.booleans()),
        )
        for index in range(count)
    )


def rates():
    return st.lists(
        st.builds(
            TaxRate,
            PERCENTS,
            st.just("DE"),
            category=st.sampled_from(["standard", "reduced"]),
            applies_to_shipping=st.booleans(),
        ),
        max_size=2,
        unique_by=lambda rate: rate.category,
    ).map(tuple)


shipping_rates = st.one_of(
    st.none(),
    st.builds(FlatRate, st.integers(0, 5000)),
    st.builds(FreeAbove, st.integers(0, 200_000), st.builds(FlatRate, st.integers(0, 5000))),
    st.just(WeightBandRate((WeightBand(1000, 500), WeightBand(10**9, 2500)))),
)

discounts = st.one_of(
    st.none(),
    st.builds(
        Discount.percentage,
        st.integers(0, 10_000),
        product_ids=st.none() | st.frozensets(st.integers(1, 4)),
        minimum_spend_cents=st.integers(0, 50_000),
    ),
    st.builds(
        Discount.fixed,
        st.integers(0, 500_000),
        st.just("USD"),
        product_ids=st.none() | st.frozensets(st.integers(1, 4)),
        minimum_spend_cents=st.integers(0, 50_000),
    ),
)

requests = st.builds(
    PriceRequest,
    st.just("USD"),
    lines(),
    tax_mode=st.sampled_from(TaxMode),
    destination=st.sampled_from([DE, US, None]),
    tax_rates=rates(),
    shipping_rate=shipping_rates,
    discount=discounts,
)


def _amounts(value):
    if dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            if field.name.endswith("_cents") or field.name in ("quantity", "weight_grams"):
                yield getattr(value, field.name)
            elif isinstance(getattr(value, field.name), tuple):
                for item in getattr(value, field.name):
                    yield from _amounts(item)


@PROPERTY
@given(requests)
def test_the_total_adds_up_is_never_negative_and_is_all_whole_cents(request):
    order = quote(request)
    total = order.lines_subtotal_cents - order.discount_cents + order.shipping_cents
    if not order.tax_included:
        total += order.tax_cents
    assert order.grand_total_cents == total >= 0
    assert order.grand_total_cents == sum(line.total_cents for line in order.lines) + (
        order.shipping_cents + (0 if order.tax_included else order.shipping_tax_cents)
    )
    assert all(type(amount) is int and amount >= 0 for amount in _amounts(order))


@PROPERTY
@given(requests)
def test_with_prices_including_tax_the_shopper_pays_the_same_whatever_the_tax(request):
    inclusive = dataclasses.replace(request, tax_mode=TaxMode.INCLUSIVE)
    untaxed = dataclasses.replace(inclusive, tax_rates=())
    assert quote(inclusive).grand_total_cents == quote(untaxed).grand_total_cents


@PROPERTY
@given(requests)
def test_each_line_is_taxed_on_its_discounted_amount(request):
    order = quote(request)
    for line in order.lines:
        net = line.gross_cents - line.discount_cents
        if order.tax_included:
            assert line.taxable_cents + line.tax_cents == net == line.total_cents
        else:
            assert line.taxable_cents == net and line.total_cents == net + line.tax_cents
        assert 0 <= line.tax_cents <= net


@PROPERTY
@given(requests)
def test_the_discount_shares_sum_to_it_and_never_exceed_what_they_apply_to(request):
    order, code = quote(request), request.discount
    assert sum(line.discount_cents for line in order.lines) == order.discount_cents
    assert all(line.discount_cents <= line.gross_cents for line in order.lines)
    eligible = sum(
        line.gross_cents for line in order.lines if code and code.applies_to(line.product_id)
    )
    assert order.discount_cents <= eligible
    if code and eligible < code.minimum_spend_cents:
        assert order.discount_cents == 0


@PROPERTY
@given(requests, st.data())
def test_refunds_by_units_never_exceed_what_was_paid_and_all_of_them_return_it_exactly(
    request, data
):
    order = quote(request)
    returned = {line.variant_id: 0 for line in order.lines}
    money = tax = 0
    while any(returned[line.variant_id] < line.quantity for line in order.lines):
        batch = {
            line.variant_id: data.draw(st.integers(0, line.quantity - returned[line.variant_id]))
            for line in order.lines
        }
        unfinished = next(line for line in order.lines if returned[line.variant_id] < line.quantity)
        batch[unfinished.variant_id] = max(batch[unfinished.variant_id], 1)  # always progress
        split = refund_split(order, batch, dict(returned))
        assert 0 <= split.tax_cents <= split.amount_cents
        money, tax = money + split.amount_cents, tax + split.tax_cents
        assert tax <= order.tax_cents and money <= order.grand_total_cents
        returned = {variant: returned[variant] + batch[variant] for variant in returned}
    last = refund_split(order, {}, returned, shipping=True)
    assert tax + last.tax_cents == order.tax_cents
    assert money + last.amount_cents == order.grand_total_cents


@PROPERTY
@given(requests, st.data())
def test_refunds_by_amount_never_exceed_what_was_paid_and_all_of_it_returns_the_tax(request, data):
    order = quote(request)
    cuts = data.draw(st.lists(st.integers(0, order.grand_total_cents), max_size=4))
    points = [0, *sorted(cuts), order.grand_total_cents]
    tax = 0
    for before, after in zip(points, points[1:], strict=False):
        split = refund_split(order, after - before, before)
        assert 0 <= split.tax_cents <= split.amount_cents
        tax += split.tax_cents
        assert tax <= order.tax_cents
    assert tax == order.tax_cents
    with pytest.raises(PricingError):
        refund_split(order, 1, order.grand_total_cents)
