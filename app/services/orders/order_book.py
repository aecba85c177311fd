"""Orders: created once per checkout, with a human number, a timeline, and a status that moves
only along ``ORDER_TRANSITIONS`` (``set_status``); who may open one (``open_order``): its
account, the browser that checked it out, or a guest link from its emails (``OrderLinks``:
timed, and withdrawn by the shop with ``Order.guest_links_since``)."""

from __future__ import annotations

import enum
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app import clock
from app.db import begin_write
from app.models import ORDER_TRANSITIONS, Checkout, Order, OrderEvent, OrderLine, OrderStatus
from app.services import locks
from app.services.errors import Forbidden, NotFound
from app.services.mail import order_link_mail
from app.services.transactions import unit_of_work

# No 0/O, 1/I/L: numbers are read out over the phone.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_order_number() -> str:
    return "HF-" + "".join(secrets.choice(ALPHABET) for _ in range(8))


class IllegalOrderMove(RuntimeError):
    """A status change the order's transition table does not allow (a bug, never a shopper's
    doing)."""


def set_status(order: Order, to: OrderStatus) -> None:
    """The one place an order's status changes; refuses a move outside ``ORDER_TRANSITIONS``
    (staying put is always allowed)."""
    if to is not order.status and to not in ORDER_TRANSITIONS[order.status]:
        raise IllegalOrderMove(f"order {order.number}: {order.status} → {to}")
    order.status = to


def add_event(order: Order, status: OrderStatus | str, message: str, now: datetime) -> None:
    order.events.append(OrderEvent(status=str(status), message=message, created_at=now))


# The buyer's contact and address, copied from the checkout (models/base.py ShippingAddress).
ADDRESS_COLUMNS = (
    "email",
    "full_name",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
)


# The checkout's price snapshot, copied onto its order (models/base.py ``PriceBreakdown``).
BREAKDOWN_COLUMNS = (
    "subtotal_cents",
    "discount_cents",
    "shipping_cents",
    "shipping_tax_cents",
    "tax_cents",
    "prices_include_tax",
    "shipping_name",
    "discount_code",
)


def create_order_from_checkout(session: Session, checkout: Checkout, now: datetime) -> Order:
    """An order awaiting its payment's capture, copying the checkout's snapshot."""
    order = Order(
        number=new_order_number(),
        checkout_id=checkout.id,
        user_id=checkout.user_id,
        status=OrderStatus.PENDING_PAYMENT,
        **{name: getattr(checkout, name) for name in ADDRESS_COLUMNS},
        currency=checkout.currency,
        total_cents=checkout.total_cents,
        **{name: getattr(checkout, name) for name in BREAKDOWN_COLUMNS},
        created_at=now,
    )
    order.lines = [
        OrderLine(
            variant_id=line.variant_id,
            sku=line.sku,
            name=line.name,
            quantity=line.quantity,
            unit_price_cents=line.unit_price_cents,
            discount_cents=line.discount_cents,
            tax_cents=line.tax_cents,
            tax_percent=line.tax_percent,
        )
        for line in checkout.lines
    ]
    add_event(order, OrderStatus.PENDING_PAYMENT, "Order placed; confirming payment.", now)
    session.add(order)
    session.flush()
    return order


def orders_of_user(session: Session, user_id: int, limit: int = 100) -> list[Order]:
    return list(
        session.scalars(
            select(Order)
            .options(selectinload(Order.lines))
            .where(Order.user_id == user_id)
            .order_by(Order.created_at.desc())
            .limit(limit)
        )
    )


def order_for_checkout(session: Session, checkout_id: int) -> Order | None:
    return session.scalar(select(Order).where(Order.checkout_id == checkout_id))


# ---------------------------------------------------------------- who may see an order

LINK_SALT = "holdfast.order-link.v2"  # v1 links (untimed) no longer verify
DAY_SECONDS = 24 * 60 * 60
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LinkState(enum.StrEnum):
    """What a guest link (``?t=``) is worth for one order."""

    OPEN = "open"
    EXPIRED = "expired"  # older than GUEST_LINK_DAYS
    WITHDRAWN = "withdrawn"  # signed before the order's ``guest_links_since``
    INVALID = "invalid"  # not ours, not this order's, or from before links expired


class LinkRefused(NotFound):
    """A guest link that does not open its order; the page offers a new one. Expired and
    withdrawn links (signed by us, for this order) are 410 Gone; anything else is 404."""

    MESSAGES = {
        LinkState.EXPIRED: "This link to your order has expired.",
        LinkState.WITHDRAWN: "This link to your order was withdrawn by the shop.",
        LinkState.INVALID: "This link does not open an order. Links from older emails no "
        "longer work.",
    }

    def __init__(self, state: LinkState) -> None:
        super().__init__(self.MESSAGES[state])
        self.state = state
        self.status_code = 404 if state is LinkState.INVALID else 410


def micros(moment: datetime) -> int:
    """Whole microseconds since 1970 (exact: no float)."""
    return (moment - EPOCH) // timedelta(microseconds=1)


class _ClockSigner(TimestampSigner):
    """itsdangerous's timestamp signer reading the shop's clock (``at``, or now), so the age
    of a link is measured as every other deadline is, and tests move time."""

    def __init__(self, *args: Any, at: datetime | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.at = at

    def get_timestamp(self) -> int:
        return int(clock.now(self.at).timestamp())


@dataclass(frozen=True)
class OrderLinks:
    """Links to order pages for emails: a guest opens their order through a timed, signed
    token (``?t=``) that works for ``days`` days, and not at all once the shop withdrew the
    order's links (``Order.guest_links_since``)."""

    base_url: str
    secret: str
    days: int = 90

    @classmethod
    def from_config(cls, config) -> OrderLinks:
        return cls(
            str(config.get("SHOP_BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
            str(config["SECRET_KEY"]),
            int(config.get("GUEST_LINK_DAYS") or 90),
        )

    def _serializer(self, at: datetime) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(
            self.secret, salt=LINK_SALT, signer=_ClockSigner, signer_kwargs={"at": at}
        )

    def token(self, number: str, now: datetime | None = None) -> str:
        """The order number and the moment of signing (to the microsecond, so a withdrawal
        and a new link in the same second are told apart), under a timed signature."""
        now = clock.now(now)
        return self._serializer(now).dumps([number, micros(now)])

    def link(self, order: Order, now: datetime | None = None) -> str:
        return f"{self.base_url}/orders/{order.number}?t={self.token(order.number, now)}"

    def check(
        self,
        number: str,
        token: str,
        *,
        since: datetime | None = None,
        now: datetime | None = None,
    ) -> LinkState:
        """Whether ``token`` opens order ``number`` whose links were withdrawn at ``since``."""
        serializer = self._serializer(clock.now(now))
        expired = False
        try:
            payload = serializer.loads(token, max_age=self.days * DAY_SECONDS)
        except SignatureExpired as exc:  # signed by us, too long ago
            expired = True
            try:
                payload = serializer.load_payload(exc.payload or b"")
            except BadData:
                return LinkState.INVALID
        except BadData:  # forged, changed, another salt's, or not a token at all
            return LinkState.INVALID
        signed = _signed_payload(payload)
        if signed is None or signed[0] != number:
            return LinkState.INVALID
        if since is not None and signed[1] < micros(since):
            return LinkState.WITHDRAWN
        return LinkState.EXPIRED if expired else LinkState.OPEN


def _signed_payload(payload: Any) -> tuple[str, int] | None:
    if (
        isinstance(payload, list)
        and len(payload) == 2
        and isinstance(payload[0], str)
        and isinstance(payload[1], int)
        and not isinstance(payload[1], bool)
    ):
        return payload[0], payload[1]
    return None


@dataclass(frozen=True)
class Access:
    """An order opened by its buyer. ``by_link``: only through the signed link from its
    emails (not the account that placed it, not the browser that checked it out), so
    cancelling or returning asks for the order's email first."""

    order: Order
    by_link: bool


def open_order(
    session: Session,
    number: str,
    *,
    user_id: int | None,
    owner_key: str,
    token: str | None,
    links: OrderLinks,
    now: datetime | None = None,
) -> Access:
    """The order, only for its buyer: the account that placed it, the browser that ran its
    checkout, or whoever holds an open link from its emails. Anyone else gets not found; a
    link that does not open it raises ``LinkRefused`` (the page offers a new link)."""
    order = session.scalar(
        select(Order)
        .where(Order.number == number)
        .options(selectinload(Order.lines), selectinload(Order.events))
    )
    if order is not None and _is_buyer(session, order, user_id, owner_key):
        return Access(order, by_link=False)
    if token:
        state = (
            links.check(number, token, since=order.guest_links_since, now=now)
            if order is not None
            else LinkState.INVALID
        )
        if state is LinkState.OPEN:
            return Access(order, by_link=True)
        raise LinkRefused(state)
    raise NotFound("We could not find that order.")


def _is_buyer(session: Session, order: Order, user_id: int | None, owner_key: str) -> bool:
    if user_id is not None and order.user_id == user_id:
        return True
    checkout = session.get(Checkout, order.checkout_id)
    return checkout is not None and secrets.compare_digest(checkout.owner_key, owner_key)


def same_email(typed: str | None, email: str) -> bool:
    """Case and surrounding spaces aside, in constant time."""
    a = (typed or "").strip().lower().encode()
    return hmac.compare_digest(a, email.strip().lower().encode())


def confirm_guest_email(access: Access, typed: str | None) -> None:
    """Someone who opened the order through a link proves they are its buyer by typing its
    email before cancelling or returning; its account and its checkout's browser are not
    asked. Refused (403) otherwise, before anything changes."""
    if not access.by_link:
        return
    if not (typed or "").strip():
        raise Forbidden("Enter the email address this order was placed with.")
    if not same_email(typed, access.order.email):
        raise Forbidden(
            "That is not the email address this order was placed with, so nothing was changed."
        )


def masked_email(email: str) -> str:
    """``ada@example.com`` → ``a•••@e•••.com``: enough for the buyer to recognise, not for
    someone holding a forwarded link to type."""
    local, _, domain = email.partition("@")
    host, dot, tld = domain.rpartition(".")
    host = host or tld
    return f"{local[:1]}•••@{host[:1]}•••{dot}{tld if dot else ''}"


@unit_of_work
def send_new_link(
    session: Session,
    number: str,
    email: str,
    *,
    links: OrderLinks,
    now: datetime | None = None,
) -> bool:
    """Send me a new link: when ``number`` names an order placed with ``email``, queue an
    ``order_link`` email with a fresh link (at most one per order per ten minutes). Whether
    it did is for tests and logs only: the page answers the same either way."""
    now = clock.now(now)
    number = number.strip().upper()[:20]
    begin_write(session)
    order_id = session.scalar(select(Order.id).where(Order.number == number))
    order = locks.lock_order(session, order_id) if order_id is not None else None
    if order is None or not same_email(email, order.email):
        session.rollback()
        return False
    queued = order_link_mail.queue_order_link(
        session, order, link=links.link(order, now), days=links.days, now=now
    )
    session.commit()
    return queued is not None
