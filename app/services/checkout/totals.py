"""A checkout's totals: the shop's rows (shipping zones and rates, tax rates, the tax-mode
setting, the checkout's discount code) turned into ``services.pricing`` inputs, priced, and
written onto the checkout as its price snapshot.

The snapshot is what the shopper is shown on the review page and what the provider is asked
to charge (``Checkout.total_cents``); the order copies it. It is re-priced only when the
shopper acts: starting the checkout, choosing a shipping rate, applying or removing a code,
confirming new prices. When the shop's prices, rates or tax rates move in the meantime,
:func:`current_quote` prices the same checkout as of now and ``checkout.review`` asks the
shopper to confirm a change beyond the drift tolerance before anything is charged.

Shipping: a cart with a physical line needs a rate of the destination's zone (the zone naming
the destination's region, else its country, else the rest-of-the-world zone). A shop that has
set up no zone at all ships free everywhere (so a new shop can sell before it has thought about
shipping); one that has, ships only where a zone reaches. A cart of digital goods only has no
shipping and needs no address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, selectinload

from app.models import (
    Checkout,
    DiscountCode,
    DiscountKind,
    DiscountScope,
    RateKind,
    ShippingPlace,
    ShippingRate,
    ShippingZone,
    TaxRate,
    Variant,
)
from app.services.admin.settings import get_setting
from app.services.errors import DomainError
from app.services.pricing import discounts as pricing_discounts
from app.services.pricing import quote as pricing_quote
from app.services.pricing import shipping as pricing_shipping
from app.services.pricing import tax as pricing_tax
from app.services.pricing.errors import PricingError


class ShippingUnavailable(DomainError):
    """The shop does not ship the cart to the destination (no zone, or no rate that can
    carry it)."""

    status_code = 409


@dataclass(frozen=True)
class RateOption:
    """One way to ship this cart, as the review page offers it."""

    id: int
    name: str
    price_cents: int | None  # None: this rate cannot carry the cart (too heavy)
    currency: str
    free_above_cents: int | None


# ---------------------------------------------------------------- the shop's rows


def tax_mode(session: Session) -> pricing_quote.TaxMode:
    include = get_setting(session, "prices_include_tax")
    return pricing_quote.TaxMode.INCLUSIVE if include else pricing_quote.TaxMode.EXCLUSIVE


def _place(text: str | None) -> str:
    return (text or "").strip().upper()


def zone_for(session: Session, country: str, region: str = "") -> ShippingZone | None:
    """The zone that ships to ``country`` (and ``region``): the one naming the region, else the
    one naming the whole country, else the rest-of-the-world zone, else none."""
    country, region = _place(country), _place(region)
    places = session.execute(
        select(ShippingPlace.region, ShippingPlace.zone_id).where(ShippingPlace.country == country)
    ).all()
    by_region = {_place(place_region): zone_id for place_region, zone_id in places}
    zone_id = (by_region.get(region) if region else None) or by_region.get("")
    if zone_id is None:
        zone_id = session.scalar(
            select(ShippingZone.id).where(ShippingZone.rest_of_world).order_by(ShippingZone.id)
        )
    return None if zone_id is None else session.get(ShippingZone, zone_id)


def shipping_configured(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(ShippingZone.id.is_not(None)))))


def pricing_rate(row: ShippingRate) -> pricing_shipping.ShippingRate:
    """A rate row as ``services.pricing`` prices it."""
    if row.kind is RateKind.WEIGHT:
        base = pricing_shipping.WeightBandRate(
            tuple(pricing_shipping.WeightBand(int(up), int(price)) for up, price in row.bands),
            row.currency,
        )
    else:
        base = pricing_shipping.FlatRate(row.price_cents, row.currency)
    if row.free_above_cents is None:
        return base
    return pricing_shipping.FreeAbove(row.free_above_cents, base)


def tax_rates_for(session: Session, country: str) -> tuple[pricing_tax.TaxRate, ...]:
    rows = session.scalars(select(TaxRate).where(TaxRate.country == _place(country)))
    return tuple(
        pricing_tax.TaxRate(
            Decimal(row.percent_thousandths) / 1000,
            row.country,
            region=row.region or None,
            category=row.category,
            applies_to_shipping=row.applies_to_shipping,
            name=row.name,
        )
        for row in rows
    )


def pricing_discount(code: DiscountCode) -> pricing_discounts.Discount:
    scoped = code.applies_to is DiscountScope.PRODUCTS
    products = frozenset(p.id for p in code.products) if scoped else None
    kind = (
        pricing_discounts.DiscountKind.FIXED
        if code.kind is DiscountKind.FIXED
        else pricing_discounts.DiscountKind.PERCENTAGE
    )
    return pricing_discounts.Discount(
        kind,
        code.value,
        currency=code.currency,
        product_ids=products,
        minimum_spend_cents=code.min_spend_cents,
        code=code.code,
    )


# ---------------------------------------------------------------- pricing a checkout


def product_ids_of(session: Session, checkout: Checkout) -> dict[int, int]:
    """Variant id → product id, for the checkout's lines."""
    ids = [line.variant_id for line in checkout.lines]
    rows = session.execute(select(Variant.id, Variant.product_id).where(Variant.id.in_(ids)))
    return {variant_id: value for variant_id, value in rows}


def destination(checkout: Checkout) -> pricing_tax.Destination:
    return pricing_tax.Destination(checkout.country, checkout.region or None)


@dataclass(frozen=True)
class ShopRows:
    """Everything a checkout is priced from, read once (a page that prices a checkout several
    ways, such as the review page's drift check and its rate options, reads them once)."""

    products: dict[int, int]  # variant id → product id
    tax_mode: pricing_quote.TaxMode
    tax_rates: tuple[pricing_tax.TaxRate, ...]
    code: DiscountCode | None
    shipping_set_up: bool  # the shop has at least one zone
    rates: tuple[ShippingRate, ...]  # the destination zone's active rates in this currency


def _zone_rates(session: Session, checkout: Checkout) -> tuple[bool, tuple[ShippingRate, ...]]:
    if not checkout.needs_shipping:
        return False, ()
    zone = zone_for(session, checkout.country, checkout.region)
    if zone is None:
        return shipping_configured(session), ()
    rates = session.scalars(
        select(ShippingRate)
        .where(
            ShippingRate.zone_id == zone.id,
            ShippingRate.active,
            func.upper(ShippingRate.currency) == checkout.currency.upper(),
        )
        .order_by(ShippingRate.position, ShippingRate.id)
    )
    return True, tuple(rates)


def load(session: Session, checkout: Checkout) -> ShopRows:
    set_up, rates = _zone_rates(session, checkout)
    return ShopRows(
        products=product_ids_of(session, checkout),
        tax_mode=tax_mode(session),
        tax_rates=tax_rates_for(session, checkout.country),
        code=_code(session, checkout),
        shipping_set_up=set_up,
        rates=rates,
    )


def _request(
    checkout: Checkout,
    rows: ShopRows,
    rate: ShippingRate | None,
    unit_prices: Mapping[int, int] | None,
) -> pricing_quote.PriceRequest:
    prices = unit_prices or {}
    lines = tuple(
        pricing_quote.CartLine(
            variant_id=line.variant_id,
            product_id=rows.products.get(line.variant_id, 0),
            unit_price_cents=prices.get(line.variant_id, line.unit_price_cents),
            quantity=line.quantity,
            weight_grams=line.weight_grams,
            is_digital=line.is_digital,
        )
        for line in checkout.lines
    )
    return pricing_quote.PriceRequest(
        currency=checkout.currency,
        lines=lines,
        tax_mode=rows.tax_mode,
        destination=destination(checkout),
        tax_rates=rows.tax_rates,
        shipping_rate=pricing_rate(rate) if rate is not None else None,
        discount=pricing_discount(rows.code) if rows.code is not None else None,
    )


def rate_options(
    session: Session, checkout: Checkout, rows: ShopRows | None = None
) -> list[RateOption]:
    """The active rates of the destination's zone in the checkout's currency, each priced for
    this cart (the goods' subtotal after the discount and the physical lines' weight)."""
    rows = rows or load(session, checkout)
    if not rows.rates:
        return []
    plain = pricing_quote.quote(_request(checkout, rows, None, None))
    goods = plain.lines_subtotal_cents - plain.discount_cents
    return [
        RateOption(
            row.id,
            row.name,
            pricing_rate(row).price_for(goods, plain.weight_grams),
            row.currency,
            row.free_above_cents,
        )
        for row in rows.rates
    ]


def _code(session: Session, checkout: Checkout) -> DiscountCode | None:
    if not checkout.discount_code:
        return None
    return session.scalar(
        select(DiscountCode)
        .where(DiscountCode.code == checkout.discount_code)
        .options(selectinload(DiscountCode.products))
    )


def _where(checkout: Checkout) -> str:
    return f"{checkout.country}{f' ({checkout.region})' if checkout.region else ''}"


def choose_rate(
    session: Session, checkout: Checkout, rate_id: int | None, rows: ShopRows | None = None
) -> ShippingRate | None:
    """The rate to price the checkout with: ``rate_id`` when it is one of the options that can
    carry the cart, else the cheapest that can. None when the cart needs no shipping or the
    shop has set up none. Raises :class:`ShippingUnavailable` when it cannot be shipped."""
    rows = rows or load(session, checkout)
    if not rows.shipping_set_up:
        return None
    options = [o for o in rate_options(session, checkout, rows) if o.price_cents is not None]
    if not options:
        raise ShippingUnavailable(
            f"Sorry, we do not ship this order to {_where(checkout)}. "
            "Check the country, or contact us."
        )
    chosen = next((o for o in options if o.id == rate_id), None)
    if chosen is None:
        chosen = min(options, key=lambda o: (o.price_cents, o.id))
    return next(row for row in rows.rates if row.id == chosen.id)


def current_quote(
    session: Session,
    checkout: Checkout,
    unit_prices: Mapping[int, int] | None = None,
    rows: ShopRows | None = None,
) -> tuple[pricing_quote.Quote, ShippingRate | None]:
    """The checkout priced as of now: the snapshot's lines at ``unit_prices`` (variant id →
    price; the snapshot's own where missing), its chosen rate (or the cheapest when that rate
    is gone), today's tax rates and tax mode, and its discount code."""
    rows = rows or load(session, checkout)
    rate = choose_rate(session, checkout, checkout.shipping_rate_id, rows)
    try:
        return pricing_quote.quote(_request(checkout, rows, rate, unit_prices)), rate
    except PricingError as exc:
        raise ShippingUnavailable(exc.message) from exc


def write_snapshot(
    checkout: Checkout,
    quote: pricing_quote.Quote,
    rate: ShippingRate | None,
    unit_prices: Mapping[int, int] | None = None,
) -> None:
    """The quote becomes the checkout's price snapshot (the caller holds its lock)."""
    prices = unit_prices or {}
    by_variant = {line.variant_id: line for line in quote.lines}
    for line in checkout.lines:
        priced = by_variant[line.variant_id]
        line.unit_price_cents = prices.get(line.variant_id, line.unit_price_cents)
        line.discount_cents = priced.discount_cents
        line.tax_cents = priced.tax_cents
        line.tax_percent = _percent(priced.tax_percent)
    checkout.subtotal_cents = quote.lines_subtotal_cents
    checkout.discount_cents = quote.discount_cents
    checkout.shipping_cents = quote.shipping_cents
    checkout.shipping_tax_cents = quote.shipping_tax_cents
    checkout.tax_cents = quote.tax_cents
    checkout.total_cents = quote.grand_total_cents
    checkout.prices_include_tax = quote.tax_included
    checkout.shipping_rate_id = rate.id if rate is not None else None
    checkout.shipping_name = rate.name if rate is not None else ""


def _percent(value: Decimal | None) -> str:
    if value is None:
        return ""
    return format(value.normalize(), "f")


def snapshot(
    session: Session,
    checkout: Checkout,
    *,
    rate_id: int | None = None,
    unit_prices: Mapping[int, int] | None = None,
) -> pricing_quote.Quote:
    """Price the checkout with ``rate_id`` (else its chosen rate, else the cheapest) and write
    the snapshot. The caller holds the checkout's lock and commits."""
    rows = load(session, checkout)
    rate = choose_rate(session, checkout, rate_id or checkout.shipping_rate_id, rows)
    try:
        quote = pricing_quote.quote(_request(checkout, rows, rate, unit_prices))
    except PricingError as exc:
        raise ShippingUnavailable(exc.message) from exc
    write_snapshot(checkout, quote, rate, unit_prices)
    return quote
