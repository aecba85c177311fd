"""Orders in the shopper's words: the one mapping from order and line states to what a shopper
reads on the order page, in their order history and behind a guest link.

A physical unit set aside after payment is not "delivered": it reads "Processing" until the
owner ships it ("Shipped", with the carrier, the tracking number and, for carriers we know, a
tracking link). Digital units are "Delivered" once their keys are given. Units sold on
back-order are "Waiting for stock". No raw status value reaches a shopper's page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from app.models import Order, OrderLine, OrderStatus, ProductKind
from app.services.checkout import countries

_S = OrderStatus

# The order's status as one or two words (the history list, the order page's badge).
ORDER_LABELS: dict[OrderStatus, str] = {
    _S.PENDING_PAYMENT: "Confirming payment",
    _S.PAID: "Processing",
    _S.AWAITING_STOCK: "Waiting for stock",
    _S.PARTIALLY_FULFILLED: "Some items waiting for stock",
    _S.FULFILLED: "Delivered",
    _S.SHIPPED: "Shipped",
    _S.CANCELLED: "Cancelled",
    _S.REFUNDED: "Refunded",
    _S.PARTIALLY_REFUNDED: "Partly refunded",
    _S.RETURN_REQUESTED: "Return requested",
    _S.RETURNED: "Returned",
}

# The sentence at the top of the order page.
HEADLINES: dict[OrderStatus, str] = {
    _S.PENDING_PAYMENT: "We are confirming your payment.",
    _S.PAID: "Thank you! Your payment was received and we are preparing your order.",
    _S.AWAITING_STOCK: (
        "Thank you! Your payment was received; your items are on back-order and will follow."
    ),
    _S.PARTIALLY_FULFILLED: (
        "Thank you! Your payment was received. Some items are on back-order and follow as "
        "soon as they arrive."
    ),
    _S.FULFILLED: "Thank you! Everything in this order has been delivered.",
    _S.SHIPPED: "Your order is on its way.",
    _S.CANCELLED: "This order was cancelled and your payment refunded in full.",
    _S.REFUNDED: "Your payment for this order was refunded in full.",
    _S.PARTIALLY_REFUNDED: "Part of your payment for this order was refunded.",
    _S.RETURN_REQUESTED: "We have your return request and will email you when it arrives.",
    _S.RETURNED: "Your return arrived back with us.",
}

# Where a shopper follows a parcel, by carrier (the key: the carrier's name in lower case,
# letters and digits only). ``{number}`` is the tracking number, URL-quoted.
TRACKING_URLS: dict[str, str] = {
    "ups": "https://www.ups.com/track?tracknum={number}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "dhl": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
    "royalmail": "https://www.royalmail.com/track-your-item#/tracking-results/{number}",
}
CARRIER_ALIASES = {
    "unitedparcelservice": "ups",
    "unitedstatespostalservice": "usps",
    "dhlexpress": "dhl",
    "fedexexpress": "fedex",
    "fedexground": "fedex",
}

_AFTER_THE_SALE = {_S.CANCELLED: "Cancelled", _S.REFUNDED: "Refunded"}


def carrier_key(carrier: str | None) -> str:
    key = re.sub(r"[^a-z0-9]", "", (carrier or "").lower())
    return CARRIER_ALIASES.get(key, key)


def tracking_url(carrier: str | None, number: str | None) -> str | None:
    """The carrier's tracking page for this parcel; None for a carrier we do not know."""
    template = TRACKING_URLS.get(carrier_key(carrier))
    if not template or not (number or "").strip():
        return None
    return template.format(number=quote(number.strip(), safe=""))


def order_label(order: Order) -> str:
    return ORDER_LABELS.get(order.status, "In progress")


def is_digital(line: OrderLine) -> bool:
    return line.variant.product.kind is ProductKind.DIGITAL


def line_label(order: Order, line: OrderLine) -> str:
    """One line's state: Delivered (digital), Processing / Shipped (physical), Waiting for
    stock (nothing of it in yet), or what happened after the sale."""
    if order.status in _AFTER_THE_SALE:
        return _AFTER_THE_SALE[order.status]
    if order.status is _S.PENDING_PAYMENT:
        return ORDER_LABELS[_S.PENDING_PAYMENT]
    if line.quantity_fulfilled == 0:
        return "Waiting for stock"
    if is_digital(line):
        return "Delivered" if not line.waiting else "Partly delivered"
    return "Shipped" if order.shipped_at is not None else "Processing"


def order_name(order: Order) -> str:
    """A readable name for the order: its first item, "and N more" for the rest."""
    names = [line.name for line in order.lines]
    if not names:
        return f"Order {order.number}"
    more = len(names) - 1
    return names[0] if not more else f"{names[0]} and {more} more"


@dataclass(frozen=True)
class Shipment:
    carrier: str
    tracking_number: str
    url: str | None


@dataclass(frozen=True)
class LineWords:
    line: OrderLine
    label: str
    still_coming: int  # units paid for and not yet in (shown as "N still coming")


@dataclass(frozen=True)
class Address:
    full_name: str
    street: str | None  # None: hidden from someone who came only by link
    street2: str | None  # address line 2; None: not given, or hidden as the street is
    city: str
    region: str | None
    postal_code: str
    country: str  # the country's name
    phone: str | None  # None: not given, or hidden as the street is


@dataclass(frozen=True)
class OrderWords:
    """Everything the order page says about the state of an order."""

    label: str
    headline: str
    lines: list[LineWords]
    shipment: Shipment | None
    address: Address | None  # None: nothing in the order is shipped


def _shipment(order: Order) -> Shipment | None:
    if not order.tracking_number:
        return None
    carrier = order.carrier or ""
    return Shipment(carrier, order.tracking_number, tracking_url(carrier, order.tracking_number))


def _address(order: Order, by_link: bool) -> Address | None:
    if all(is_digital(line) for line in order.lines):
        return None
    return Address(
        full_name=order.full_name,
        street=None if by_link else order.address_line1,
        street2=None if by_link else (order.address_line2 or None),
        city=order.city,
        region=order.region or None,
        postal_code=order.postal_code,
        country=countries.name_of(order.country),
        phone=None if by_link else (order.phone or None),
    )


def _still_coming(order: Order, line: OrderLine) -> int:
    return 0 if order.status in (_S.CANCELLED, _S.REFUNDED) else line.waiting


def describe(order: Order, *, by_link: bool = False) -> OrderWords:
    """The order page's words for this order; ``by_link``: the visitor came only through a
    guest link, so the street lines of the address and the phone number are left out."""
    ls = order.lines
    return OrderWords(
        label=order_label(order),
        headline=HEADLINES.get(order.status, "Your order is in progress."),
        lines=[LineWords(ln, line_label(order, ln), _still_coming(order, ln)) for ln in ls],
        shipment=_shipment(order),
        address=_address(order, by_link),
    )


@dataclass(frozen=True)
class HistoryRow:
    number: str
    name: str
    label: str
    placed_at: datetime
    total_cents: int
    currency: str


def history(orders: list[Order]) -> list[HistoryRow]:
    """The account's order list: a name, the status in words, the date and the total."""
    return [
        HistoryRow(o.number, order_name(o), order_label(o), o.created_at, o.total_cents, o.currency)
        for o in orders
    ]
