"""Fulfilment: delivering what was paid for, now or when stock and keys arrive.

At payment (inside the stock-commit transaction) each order line gets the units its hold took
from stock: a digital line gets that many license keys at once, a physical line that many units
set aside for shipping. Units sold on back-order wait on the hold (``backorder_quantity``); when
stock or keys arrive, ``fill_waiting`` allocates them oldest sale first (``inventory
.allocate_backorders``), delivers keys, moves the order's status and tells the shopper.
``retry_fulfilment`` does the same for every variant, so nothing waits on a missed trigger.

Order status after a fill: nothing delivered yet → awaiting_stock; some → partially_fulfilled;
everything → fulfilled for digital-only orders, paid (ready to ship) when physical units remain
to be shipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.models import (
    Checkout,
    HoldState,
    Order,
    OrderLine,
    OrderStatus,
    ProductKind,
    Reservation,
)
from app.services import locks
from app.services.mail import notifications
from app.services.orders import order_book as orders
from app.services.stock import backorders, holds, inventory, keys
from app.services.transactions import unit_of_work

# Statuses fulfilment may move an order out of; after shipping or cancelling it leaves it be.
FILLABLE = (OrderStatus.PAID, OrderStatus.AWAITING_STOCK, OrderStatus.PARTIALLY_FULFILLED)


@dataclass
class Delivery:
    """What one fill delivered to one order (for its timeline and emails)."""

    order: Order
    keys: list[tuple[str, str]] = field(default_factory=list)  # (line name, code)
    units: int = 0
    first: bool = False


def _is_digital(line: OrderLine) -> bool:
    return line.variant.product.kind is ProductKind.DIGITAL


def _deliver(
    session: Session, line: OrderLine, units: int, delivery: Delivery, now: datetime
) -> None:
    if units <= 0:
        return
    if _is_digital(line):
        claimed = keys.claim_keys(session, line.variant_id, units, line.id, now)
        delivery.keys.extend((line.name, k.code) for k in claimed)
        units = len(claimed)
    line.quantity_fulfilled += units
    delivery.units += units


def status_after_fill(order: Order) -> OrderStatus:
    delivered = sum(line.quantity_fulfilled for line in order.lines)
    if delivered == 0:
        return OrderStatus.AWAITING_STOCK
    if any(line.waiting for line in order.lines):
        return OrderStatus.PARTIALLY_FULFILLED
    if any(not _is_digital(line) for line in order.lines):
        return OrderStatus.PAID
    return OrderStatus.FULFILLED


def _set_status(order: Order, delivery: Delivery, now: datetime) -> None:
    new = status_after_fill(order)
    if delivery.keys:
        orders.add_event(order, new, f"{len(delivery.keys)} license key(s) delivered.", now)
    elif delivery.units and not delivery.first:
        orders.add_event(
            order, new, f"{delivery.units} back-ordered item(s) are in stock and will ship.", now
        )
    if delivery.first and new in (OrderStatus.AWAITING_STOCK, OrderStatus.PARTIALLY_FULFILLED):
        waiting = sum(line.waiting for line in order.lines)
        orders.add_event(
            order,
            new,
            f"{waiting} item(s) are on back-order and will follow as soon as they arrive.",
            now,
        )
    orders.set_status(order, new)


def notify(session: Session, delivery: Delivery, links: orders.OrderLinks) -> None:
    """Queue the emails a delivery calls for, in the caller's transaction: confirmation
    (at payment), the keys delivered, and what still waits."""
    order = delivery.order
    link = links.link(order)
    if delivery.first:
        notifications.order_confirmed(session, order, link=link)
    digital_waiting = any(line.waiting and _is_digital(line) for line in order.lines)
    if delivery.keys:
        notifications.keys_delivered(
            session,
            order,
            delivery.keys,
            link=link,
            complete=not digital_waiting,
            first=delivery.first,
        )
    if delivery.first and any(line.waiting for line in order.lines):
        notifications.awaiting_stock(
            session,
            order,
            link=link,
            waiting=[(line.name, line.waiting) for line in order.lines if line.waiting],
        )


def fulfil_at_payment(
    session: Session,
    order: Order,
    hold: holds.Hold,
    now: datetime,
    links: orders.OrderLinks,
) -> Delivery:
    """Deliver what the committed hold took from stock and queue the emails. Runs in the
    stock-commit transaction (the variants are locked by ``commit_hold``)."""
    waiting = {h.variant_id: h.backorder_quantity for h in hold.lines}
    delivery = Delivery(order, first=True)
    for line in order.lines:
        _deliver(session, line, line.quantity - waiting.get(line.variant_id, 0), delivery, now)
    _set_status(order, delivery, now)
    notify(session, delivery, links)
    return delivery


def fill_waiting(
    session: Session,
    variant_id: int,
    *,
    links: orders.OrderLinks,
    now: datetime | None = None,
    commit: bool = True,
) -> list[Delivery]:
    """Stock or keys arrived for a variant: fill its waiting lines, oldest sale first. Safe to
    repeat. A sale that became owed while the first pass ran is filled by a second one."""
    deliveries: list[Delivery] = []
    for _ in range(3):
        done, complete = _fill_pass(session, variant_id, links=links, now=now, commit=commit)
        deliveries.extend(done)
        if complete or not commit:
            break
    return deliveries


@unit_of_work
def _fill_pass(
    session: Session,
    variant_id: int,
    *,
    links: orders.OrderLinks,
    now: datetime | None = None,
    commit: bool = True,
) -> tuple[list[Delivery], bool]:
    """One transaction of :func:`fill_waiting`. Locks, in the one order: the waiting orders
    (read first, then locked in id order), the variant, the owed hold rows, then license keys.
    Returns the deliveries and whether every waiting sale that stock allowed was reached."""
    now = clock.now(now)
    begin_write(session)
    waiting = dict(
        session.execute(
            select(Reservation.hold_ref, Order.id)
            .join(Checkout, Checkout.hold_ref == Reservation.hold_ref)
            .join(Order, Order.checkout_id == Checkout.id)
            .where(
                Reservation.variant_id == variant_id,
                Reservation.state == HoldState.COMMITTED,
                Reservation.backorder_quantity > 0,
            )
        ).all()
    )
    locked = locks.lock_orders(session, waiting.values())
    allocations = backorders.allocate_backorders(
        session, variant_id, only_holds=set(waiting), now=now, commit=False
    )
    deliveries: dict[int, Delivery] = {}
    for alloc in allocations:
        order = locked.get(waiting[alloc.hold_ref])
        if order is None or order.status not in FILLABLE:
            continue
        delivery = deliveries.setdefault(order.id, Delivery(order))
        for line in order.lines:
            if line.variant_id == variant_id:
                _deliver(session, line, min(alloc.quantity, line.waiting), delivery, now)
    for delivery in deliveries.values():
        _set_status(delivery.order, delivery, now)
        notify(session, delivery, links)
    complete = not _stopped_short(session, variant_id, set(waiting), now)
    if commit:
        session.commit()
    return list(deliveries.values()), complete


def _stopped_short(session: Session, variant_id: int, reached: set[str], now: datetime) -> bool:
    """Whether an owed sale not reached this pass could still be filled from free stock."""
    others = session.scalar(
        select(Reservation.id)
        .where(
            Reservation.variant_id == variant_id,
            Reservation.state == HoldState.COMMITTED,
            Reservation.backorder_quantity > 0,
            Reservation.hold_ref.not_in(reached or {""}),
        )
        .limit(1)
    )
    if others is None:
        return False
    stock = inventory.availability_of(session, variant_id, now)
    return stock.on_hand - stock.held > 0


def variants_with_waiting_lines(session: Session) -> list[int]:
    return list(
        session.scalars(
            select(Reservation.variant_id)
            .where(Reservation.state == HoldState.COMMITTED, Reservation.backorder_quantity > 0)
            .distinct()
            .order_by(Reservation.variant_id)
        )
    )


def retry_fulfilment(
    session: Session, *, links: orders.OrderLinks, now: datetime | None = None
) -> list[Delivery]:
    """Fill every variant's waiting lines as far as stock and keys allow."""
    done: list[Delivery] = []
    for variant_id in variants_with_waiting_lines(session):
        done.extend(fill_waiting(session, variant_id, links=links, now=now))
    return done
