"""Carts: adding, changing and merging lines.

A cart never asks for more of a variant than is available to it (on hand minus other shoppers'
live holds), unless the variant allows back-orders. This is a courtesy check; the promise that
nothing is oversold is kept by the hold taken at checkout (``services.inventory``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from app.db import begin_write
from app.models import Cart, CartLine, Product, ProductKind, Variant, utcnow
from app.services import locks
from app.services.checkout.thumbnails import Thumbnail
from app.services.checkout.thumbnails import for_variants as thumbnails_for
from app.services.errors import DomainError, NotFound
from app.services.stock.inventory import Availability, availability
from app.services.transactions import unit_of_work

MAX_PER_LINE = 99


class CartError(DomainError):
    """A cart change that cannot be made; the message says why."""


CHECKOUT_CANCELLED = (
    "Your cart changed, so the checkout in progress was cancelled and its reserved items released."
)


@dataclass(frozen=True)
class CartChange:
    line: CartLine | None
    cancelled_checkout: bool = False

    @property
    def notice(self) -> str | None:
        return CHECKOUT_CANCELLED if self.cancelled_checkout else None


def _cancel_checkout(session: Session, cart_id: int) -> bool:
    """A cart that changes while its checkout is active cancels that checkout (and its hold).
    The caller holds the cart's lock."""
    from app.services.checkout import pipeline as checkout

    return checkout.cancel_active_for_cart(session, cart_id, "the cart changed") is not None


@dataclass(frozen=True)
class CartLineView:
    variant: Variant
    product: Product
    quantity: int
    availability: Availability
    thumbnail: Thumbnail | None = None

    @property
    def unit_price_cents(self) -> int:
        return self.variant.price_cents

    @property
    def total_cents(self) -> int:
        return self.variant.price_cents * self.quantity

    @property
    def problem(self) -> str | None:
        if self.availability.can_take(self.quantity):
            return None
        if self.availability.available == 0:
            return "Sold out — remove it to continue."
        return f"Only {self.availability.available} left — lower the quantity to continue."


@dataclass(frozen=True)
class CartView:
    cart_id: int | None
    lines: list[CartLineView]
    currency: str

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def subtotal_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)

    @property
    def needs_shipping(self) -> bool:
        """False for a cart of digital goods only: no address beyond the email."""
        return any(line.product.kind is not ProductKind.DIGITAL for line in self.lines)

    @property
    def has_problems(self) -> bool:
        return any(line.problem for line in self.lines)

    def has_line(self, variant_id: int | None) -> bool:
        return any(line.variant.id == variant_id for line in self.lines)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def find_cart(
    session: Session, *, token: str | None = None, user_id: int | None = None
) -> Cart | None:
    if user_id is not None:
        return session.scalar(select(Cart).where(Cart.user_id == user_id))
    if token:
        return session.scalar(select(Cart).where(Cart.token == token, Cart.user_id.is_(None)))
    return None


def ensure_cart(session: Session, *, token: str | None = None, user_id: int | None = None) -> Cart:
    begin_write(session)
    cart = find_cart(session, token=token, user_id=user_id)
    if cart is None:
        cart = Cart(token=new_token(), user_id=user_id)
        session.add(cart)
        session.flush()
    return cart


@unit_of_work
def open_cart(session: Session, *, token: str | None = None, user_id: int | None = None) -> Cart:
    """The shopper's cart, made (and committed) if there is none yet."""
    cart = ensure_cart(session, token=token, user_id=user_id)
    session.commit()
    return cart


def _line(session: Session, cart_id: int, variant_id: int) -> CartLine | None:
    return session.scalar(
        select(CartLine).where(CartLine.cart_id == cart_id, CartLine.variant_id == variant_id)
    )


def _check_quantity(session: Session, variant: Variant, quantity: int, max_per_line: int) -> None:
    """Refuse (rolling the caller's transaction back) a quantity that is not available."""
    message = None
    if quantity > max_per_line:
        message = f"You can buy at most {max_per_line} of one item per order."
    else:
        session.flush()
        avail = availability(session, [variant.id])[variant.id]
        name = f"{variant.product.name} ({variant.label})"
        if not avail.can_take(quantity):
            message = (
                f"Sorry, {name} is sold out."
                if avail.available == 0
                else f"Only {avail.available} of {name} available; you asked for {quantity}."
            )
    if message:
        session.rollback()
        raise CartError(message)


def _variant(session: Session, variant_id: int) -> Variant:
    variant = session.get(Variant, variant_id)
    if variant is None or not variant.product.is_active:
        raise NotFound("That item is not in our catalogue.")
    return variant


@unit_of_work
def add_item(
    session: Session,
    cart_id: int,
    variant_id: int,
    quantity: int,
    *,
    max_per_line: int = MAX_PER_LINE,
) -> CartChange:
    """Add ``quantity`` of a variant; the line's new total must be available."""
    if quantity < 1:
        raise CartError("Quantity must be at least 1.")
    if locks.lock_cart(session, cart_id) is None:
        raise NotFound("Your cart has expired; please add the item again.")
    variant = _variant(session, variant_id)
    line = _line(session, cart_id, variant_id)
    new_quantity = quantity + (line.quantity if line else 0)
    # The shopper's own checkout hold must not count against them: cancel it first (a refusal
    # below rolls the cancellation back with everything else).
    cancelled = _cancel_checkout(session, cart_id)
    _check_quantity(session, variant, new_quantity, max_per_line)
    if line is None:
        line = CartLine(cart_id=cart_id, variant_id=variant_id, quantity=new_quantity)
        session.add(line)
    else:
        line.quantity = new_quantity
    _touch(session, cart_id)
    session.commit()
    return CartChange(line, cancelled)


@unit_of_work
def set_quantity(
    session: Session,
    cart_id: int,
    variant_id: int,
    quantity: int,
    *,
    max_per_line: int = MAX_PER_LINE,
) -> CartChange:
    """Set a line's quantity; 0 removes the line. Lowering is always allowed."""
    if quantity < 0:
        raise CartError("Quantity cannot be negative.")
    if locks.lock_cart(session, cart_id) is None:
        raise NotFound("Your cart has expired; please add the item again.")
    line = _line(session, cart_id, variant_id)
    if line is None:
        if quantity == 0:
            return CartChange(None)
        return add_item(session, cart_id, variant_id, quantity, max_per_line=max_per_line)
    if quantity == line.quantity:
        return CartChange(line)
    cancelled = _cancel_checkout(session, cart_id)
    if quantity > line.quantity:
        _check_quantity(session, _variant(session, variant_id), quantity, max_per_line)
    if quantity == 0:
        session.delete(line)
        line = None
    else:
        line.quantity = quantity
    _touch(session, cart_id)
    session.commit()
    return CartChange(line, cancelled)


def _touch(session: Session, cart_id: int) -> None:
    cart = session.get(Cart, cart_id)
    if cart is not None:
        cart.updated_at = utcnow()


def cart_view(session: Session, cart_id: int | None, currency: str = "USD") -> CartView:
    if cart_id is None:
        return CartView(None, [], currency)
    lines = list(
        session.scalars(
            select(CartLine)
            .where(CartLine.cart_id == cart_id)
            .options(joinedload(CartLine.variant).joinedload(Variant.product))
            .order_by(CartLine.id)
        )
    )
    variant_ids = [line.variant_id for line in lines]
    avail = availability(session, variant_ids)
    thumbs = thumbnails_for(session, variant_ids)
    views = [
        CartLineView(
            line.variant,
            line.variant.product,
            line.quantity,
            avail[line.variant_id],
            thumbs.get(line.variant_id),
        )
        for line in lines
    ]
    return CartView(cart_id, views, views[0].variant.currency if views else currency)


@dataclass(frozen=True)
class CartSummary:
    """What the badge and the add-to-cart answer show: how many items."""

    count: int


def cart_summary(session: Session, cart_id: int | None) -> CartSummary:
    return CartSummary(cart_count(session, cart_id))


def cart_count(session: Session, cart_id: int | None) -> int:
    if cart_id is None:
        return 0
    return int(
        session.scalar(
            select(func.coalesce(func.sum(CartLine.quantity), 0)).where(CartLine.cart_id == cart_id)
        )
        or 0
    )


@unit_of_work
def merge_guest_cart(
    session: Session, guest_token: str | None, user_id: int, *, max_per_line: int = MAX_PER_LINE
) -> Cart:
    """Move a guest cart's lines into the user's cart (creating it), summing quantities and
    capping each line at what is available. The guest cart is deleted."""
    user_cart = ensure_cart(session, user_id=user_id)
    guest = find_cart(session, token=guest_token) if guest_token else None
    if guest is not None and guest.id != user_cart.id and guest.lines:
        from app.services.checkout import pipeline as checkout

        carts = locks.lock_carts(session, [guest.id, user_cart.id])
        guest, user_cart = carts[guest.id], carts[user_cart.id]
        checkout.cancel_active_for_carts(
            session,
            [guest.id, user_cart.id],
            "the cart changed",
            also_variants=[g.variant_id for g in guest.lines],
        )
        for gline in list(guest.lines):
            line = _line(session, user_cart.id, gline.variant_id)
            wanted = gline.quantity + (line.quantity if line else 0)
            avail = availability(session, [gline.variant_id])[gline.variant_id]
            cap = wanted if avail.allow_backorder else min(wanted, avail.available)
            cap = min(cap, max_per_line)
            if line is None and cap > 0:
                session.add(
                    CartLine(cart_id=user_cart.id, variant_id=gline.variant_id, quantity=cap)
                )
            elif line is not None and cap > 0:
                line.quantity = cap
        session.delete(guest)
    session.commit()
    return user_cart
