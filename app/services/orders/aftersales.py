"""After the sale: shipping, the shopper's cancellation, returns.

- ``ship_order``: the owner hands a paid order to a carrier (tracking recorded).
- ``cancel_order``: the shopper cancels an order that has not shipped: the payment is refunded
  through the provider first (no lock held), then units set aside go back to stock through the
  ledger and back-ordered units stop being owed. Orders whose license keys were delivered
  cannot be cancelled (the keys cannot be taken back).
- ``request_return`` / ``receive_return``: a shipped line comes back: the request is recorded;
  when the goods arrive the units return to stock and the line's price is refunded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import clock
from app.models import (
    Checkout,
    MovementReason,
    Order,
    OrderStatus,
    ProductKind,
    Return,
    ReturnState,
)
from app.providers.base import PaymentProvider
from app.services import audit, locks
from app.services.errors import DomainError, NotFound
from app.services.mail import notifications
from app.services.orders import order_book as orders
from app.services.orders import refund_tax, refunds
from app.services.stock import backorders, holds, inventory, keys
from app.services.transactions import unit_of_work

CANCELLABLE = (OrderStatus.PAID, OrderStatus.AWAITING_STOCK, OrderStatus.PARTIALLY_FULFILLED)
SHIPPABLE = (OrderStatus.PAID, OrderStatus.PARTIALLY_FULFILLED)


class OrderActionError(DomainError):
    status_code = 409


def _order(session: Session, number: str, *, lock: bool = False) -> Order:
    order = session.scalar(select(Order).where(Order.number == number))
    if order is None:
        raise NotFound(f"No order {number}.")
    return locks.lock_order(session, order.id) if lock else order


def can_cancel(session: Session, order: Order) -> bool:
    if order.status not in CANCELLABLE:
        return False
    return not keys.keys_for_lines(session, [line.id for line in order.lines])


def can_ship(order: Order) -> bool:
    """Paid, with physical units set aside and not yet shipped."""
    return order.status in SHIPPABLE and any(
        line.quantity_fulfilled and line.variant.product.kind is ProductKind.PHYSICAL
        for line in order.lines
    )


def returnable_lines(order: Order) -> list:
    """The lines of a shipped order the shopper may send back (physical units delivered)."""
    if order.status not in (OrderStatus.SHIPPED, OrderStatus.RETURN_REQUESTED):
        return []
    return [
        line
        for line in order.lines
        if line.quantity_fulfilled and line.variant.product.kind is ProductKind.PHYSICAL
    ]


def cancel_key(order: Order) -> str:
    return f"cancel-{order.id}"


def cancel_order(
    session: Session,
    providers: Callable[[str], PaymentProvider],
    number: str,
    *,
    actor: str,
    links: orders.OrderLinks,
    reason: str = "cancelled by the shopper",
    now: datetime | None = None,
) -> Order:
    """Cancel an unshipped order: refund it in full through the provider (no lock held),
    then, in one transaction, put the units set aside back in stock, stop the back-ordered
    ones being owed and mark the order cancelled (with its email and audit row).

    A double click is one cancellation: both clicks ask the provider with the key
    ``cancel-<order id>``, the refund is counted once, and a click that finds the order
    already cancelled by that refund gets the same answer as the first."""
    now = clock.now(now)
    order = _order(session, number)
    if order.status is OrderStatus.CANCELLED and refunds.succeeded(session, cancel_key(order)):
        return order
    _check_cancellable(session, order, number)
    checkout = session.get(Checkout, order.checkout_id)
    hold_ref = checkout.hold_ref if checkout else None
    held = holds.get_hold(session, hold_ref).lines if hold_ref else ()
    variants = [line.variant_id for line in order.lines] + [h.variant_id for h in held]
    refunds.refund_order(
        session,
        providers,
        number,
        reason=reason,
        actor=actor,
        idempotency_key=cancel_key(order),
        links=links,
        now=now,
        also=functools.partial(
            _cancel_refunded_order, hold_ref=hold_ref, actor=actor, reason=reason, now=now
        ),
        also_variants=variants,
    )
    return _order(session, number)


def _check_cancellable(session: Session, order: Order, number: str) -> None:
    if order.status not in CANCELLABLE:
        raise OrderActionError(
            f"Order {number} is {order.status.value.replace('_', ' ')}; "
            "it can no longer be cancelled."
        )
    if not can_cancel(session, order):
        raise OrderActionError(
            "License keys from this order were already delivered, so it "
            "cannot be cancelled. Please contact us."
        )


def _cancel_refunded_order(
    session: Session,
    order: Order,
    *,
    hold_ref: str | None,
    actor: str,
    reason: str,
    now: datetime,
) -> None:
    """``cancel_order``'s step in the transaction that records its refund: under the order's
    and its variants' locks, so what is put back is what is set aside now (a back-order filled
    a moment ago included)."""
    if order.status is OrderStatus.CANCELLED or order.shipped_at is not None:
        return  # done already; or the owner shipped it meanwhile: refunded, not cancelled
    released = backorders.cancel_owed(session, hold_ref, now=now, commit=False) if hold_ref else 0
    restocked = _restock_fulfilled_units(session, order, actor, now)
    orders.set_status(order, OrderStatus.CANCELLED)
    orders.add_event(
        order, OrderStatus.CANCELLED, "Order cancelled; your payment was refunded in full.", now
    )
    audit.record(
        session,
        "order.cancelled",
        actor=actor,
        subject_type="order",
        subject_id=order.id,
        reason=reason,
        owed_released=released,
        restocked=restocked,
    )


def _restock_fulfilled_units(
    session: Session, order: Order, actor: str, now: datetime
) -> dict[str, int]:
    """Put the physical units set aside for a cancelled order back in stock (variants in id
    order); {order line id: quantity} of what went back."""
    restocked = {}
    for line in sorted(order.lines, key=lambda x: x.variant_id):
        if line.variant.product.kind is ProductKind.PHYSICAL and line.quantity_fulfilled:
            inventory.adjust_stock(
                session,
                line.variant_id,
                line.quantity_fulfilled,
                reason="order cancelled",
                kind=MovementReason.RETURN,
                reference=f"order:{order.number}",
                actor=actor,
                commit=False,
                now=now,
            )
            restocked[str(line.id)] = line.quantity_fulfilled
            line.quantity_fulfilled = 0
    return restocked


@unit_of_work
def ship_order(
    session: Session,
    number: str,
    *,
    carrier: str,
    tracking: str,
    actor: str,
    links: orders.OrderLinks,
    now: datetime | None = None,
) -> Order:
    now = clock.now(now)
    order = _order(session, number, lock=True)
    if not can_ship(order):
        session.rollback()
        raise OrderActionError(f"Order {number} has nothing ready to ship.")
    orders.set_status(order, OrderStatus.SHIPPED)
    order.shipped_at, order.carrier, order.tracking_number = now, carrier.strip(), tracking.strip()
    orders.add_event(
        order,
        OrderStatus.SHIPPED,
        f"Shipped with {order.carrier}, tracking {order.tracking_number}.",
        now,
    )
    notifications.shipped(
        session,
        order,
        link=links.link(order),
        carrier=order.carrier,
        tracking=order.tracking_number,
    )
    audit.record(
        session,
        "order.shipped",
        actor=actor,
        subject_type="order",
        subject_id=order.id,
        carrier=order.carrier,
        tracking=order.tracking_number,
    )
    session.commit()
    return order


@unit_of_work
def request_return(
    session: Session,
    number: str,
    line_id: int,
    quantity: int,
    reason: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> Return:
    now = clock.now(now)
    order = _order(session, number, lock=True)
    try:
        if order.status not in (OrderStatus.SHIPPED, OrderStatus.RETURN_REQUESTED):
            raise OrderActionError("Only shipped orders can be returned.")
        line = next((x for x in order.lines if x.id == line_id), None)
        if line is None or line.variant.product.kind is not ProductKind.PHYSICAL:
            raise OrderActionError("That item cannot be returned.")
        asked = sum(
            r.quantity
            for r in session.scalars(
                select(Return).where(
                    Return.order_line_id == line.id, Return.state != ReturnState.REFUSED
                )
            )
        )
        if not 1 <= quantity <= line.quantity_fulfilled - asked:
            raise OrderActionError(
                f"You can return up to {line.quantity_fulfilled - asked} of {line.name}."
            )
        if not reason.strip():
            raise OrderActionError("Tell us why you are returning it.")
    except OrderActionError:
        session.rollback()
        raise
    ret = Return(
        order_id=order.id,
        order_line_id=line.id,
        quantity=quantity,
        reason=reason.strip()[:2000],
        state=ReturnState.REQUESTED,
        created_at=now,
    )
    session.add(ret)
    orders.set_status(order, OrderStatus.RETURN_REQUESTED)
    orders.add_event(
        order, OrderStatus.RETURN_REQUESTED, f"Return requested: {quantity} × {line.name}.", now
    )
    audit.record(
        session,
        "order.return_requested",
        actor=actor,
        subject_type="order",
        subject_id=order.id,
        line=line.id,
        quantity=quantity,
    )
    session.commit()
    return ret


def receive_return(
    session: Session,
    providers: Callable[[str], PaymentProvider],
    return_id: int,
    *,
    actor: str,
    links: orders.OrderLinks,
    now: datetime | None = None,
    restock: bool = True,
) -> Return:
    """The goods are back: refund what the units cost (their share of the line after its
    discount, tax included: ``refund_tax.units_refund``) and put them back in stock; the return is
    marked received (decision ``restocked``) in the transaction that records the refund (safe
    to repeat). With ``restock=False`` (see ``write_off_return``) the units are refunded but
    not restocked (decision ``written_off``)."""
    now = clock.now(now)
    ret = session.get(Return, return_id)
    if ret is None:
        raise NotFound("No such return.")
    if ret.state is not ReturnState.REQUESTED:
        return ret
    order = session.get(Order, ret.order_id)

    def received(session: Session, order: Order) -> None:
        row = locks.lock_leaf(session, Return, return_id)
        if row.state is not ReturnState.REQUESTED:
            return
        row.state, row.received_at = ReturnState.RECEIVED, now
        _decide(session, row, order, "restocked" if restock else "written_off", actor, now)
        if order.status is not OrderStatus.REFUNDED:
            orders.set_status(order, OrderStatus.RETURNED)
        orders.add_event(
            order, order.status, f"Return received: {row.quantity} × {row.line.name}.", now
        )
        notifications.return_received(
            session,
            order,
            link=links.link(order),
            lines=[(row.line.name, row.quantity)],
            return_id=row.id,
        )

    amount, tax = refund_tax.units_refund(session, ret)
    refunds.refund_order(
        session,
        providers,
        order.number,
        amount_cents=amount,
        units_tax_cents=tax,
        reason=f"return {ret.id}: {ret.reason}",
        restock={ret.order_line_id: ret.quantity} if restock else None,
        actor=actor,
        idempotency_key=f"return-{ret.id}",
        links=links,
        now=now,
        also=received,
    )
    return session.get(Return, return_id, populate_existing=True)


def _decide(
    session: Session,
    row: Return,
    order: Order,
    decision: str,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Record the shop's decision on a return, and its audit row (``return.<decision>``)."""
    row.decision, row.decision_reason, row.decided_at, row.decided_by = decision, reason, now, actor
    audit.record(
        session,
        f"return.{decision}",
        actor=actor,
        subject_type="return",
        subject_id=row.id,
        order=order.number,
        quantity=row.quantity,
        **({"reason": reason} if reason else {}),
    )


def write_off_return(
    session: Session,
    providers: Callable[[str], PaymentProvider],
    return_id: int,
    *,
    actor: str,
    links: orders.OrderLinks,
    now: datetime | None = None,
) -> Return:
    """The goods came back damaged: refund them as ``receive_return`` does, but nothing goes
    back to stock (decision ``written_off``)."""
    return receive_return(
        session, providers, return_id, actor=actor, links=links, now=now, restock=False
    )


@unit_of_work
def refuse_return(
    session: Session,
    return_id: int,
    reason: str,
    *,
    actor: str,
    links: orders.OrderLinks,
    now: datetime | None = None,
) -> Return:
    """Decline a requested return: nothing is refunded or restocked; the shopper is emailed
    ``reason``. Locks the order, then the return. Refusing it again changes nothing."""
    now = clock.now(now)
    reason = reason.strip()[:500]
    ret = session.get(Return, return_id)
    if ret is None:
        raise NotFound("No such return.")
    if not reason:
        raise OrderActionError("Say why the return is refused; the shopper is told.")
    order = locks.lock_order(session, ret.order_id)
    row = locks.lock_leaf(session, Return, return_id)
    if row.state is not ReturnState.REQUESTED:
        session.rollback()
        return row
    row.state = ReturnState.REFUSED
    _decide(session, row, order, "refused", actor, now, reason)
    if order.status is OrderStatus.RETURN_REQUESTED and not _returns_waiting(session, order.id):
        orders.set_status(order, OrderStatus.SHIPPED)
    orders.add_event(
        order, order.status, f"Return refused: {row.quantity} × {row.line.name}: {reason}", now
    )
    notifications.return_refused(
        session,
        order,
        link=links.link(order),
        lines=[(row.line.name, row.quantity)],
        reason=reason,
        return_id=row.id,
    )
    session.commit()
    return row


def _returns_waiting(session: Session, order_id: int) -> bool:
    return (
        session.scalar(
            select(func.count())
            .select_from(Return)
            .where(Return.order_id == order_id, Return.state == ReturnState.REQUESTED)
        )
        > 0
    )
