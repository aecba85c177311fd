"""The invariants of DESIGN.md, checked against the rows. ``flask holdfast verify`` runs them.

Each check returns human-readable violations; an empty list means the invariant holds.

Stock (see ``services.inventory``): on hand equals the ledger and counts units on the shelf, so
it is never negative; live holds claim no more than is on hand (for variants without
back-orders, whole holds; for the others, the parts not on back-order); every hold's rows move
together and carry the time of their state; every committed hold's stock part left on-hand
stock through SALE movements referencing it, and nothing else did.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app import clock
from app.models import HoldState, MovementReason, Reservation, StockMovement, Variant
from app.services.checks import discounts


def ledger_matches_on_hand(session: Session, now: datetime) -> list[str]:
    ledger = (
        select(StockMovement.variant_id, func.sum(StockMovement.delta).label("total"))
        .group_by(StockMovement.variant_id)
        .subquery()
    )
    rows = session.execute(
        select(Variant.sku, Variant.on_hand, func.coalesce(ledger.c.total, 0))
        .outerjoin(ledger, ledger.c.variant_id == Variant.id)
        .where(Variant.on_hand != func.coalesce(ledger.c.total, 0))
    ).all()
    return [
        f"{sku}: on_hand is {on_hand} but the ledger sums to {total}"
        for sku, on_hand, total in rows
    ]


def on_hand_not_negative(session: Session, now: datetime) -> list[str]:
    """On hand counts units on the shelf; owed back-orders are kept on their holds instead."""
    rows = session.execute(select(Variant.sku, Variant.on_hand).where(Variant.on_hand < 0)).all()
    return [f"{sku}: on_hand is negative ({on_hand})" for sku, on_hand in rows]


def holds_within_stock(session: Session, now: datetime) -> list[str]:
    """Every variant, back-orders included: the stock parts of live holds fit on hand (for a
    variant without back-orders that is the whole hold)."""
    held = (
        select(
            Reservation.variant_id,
            func.sum(Reservation.quantity - Reservation.backorder_quantity).label("held"),
        )
        .where(Reservation.state == HoldState.ACTIVE, Reservation.expires_at > now)
        .group_by(Reservation.variant_id)
        .subquery()
    )
    rows = session.execute(
        select(Variant.sku, Variant.on_hand, held.c.held)
        .join(held, held.c.variant_id == Variant.id)
        .where(held.c.held > Variant.on_hand)
    ).all()
    return [
        f"{sku}: live holds claim {h} units from stock but only {on_hand} on hand"
        for sku, on_hand, h in rows
    ]


def backorders_within_quantity(session: Session, now: datetime) -> list[str]:
    rows = session.execute(
        select(Reservation.hold_ref, Reservation.variant_id).where(
            Reservation.backorder_quantity > Reservation.quantity
        )
    ).all()
    return [f"hold {ref}: variant {vid} owes more than it sold" for ref, vid in rows]


def hold_states_have_their_times(session: Session, now: datetime) -> list[str]:
    R = Reservation
    unset = (R.committed_at.is_(None), R.released_at.is_(None), R.expired_at.is_(None))
    expected = {
        HoldState.ACTIVE: and_(*unset),
        HoldState.COMMITTED: and_(R.committed_at.is_not(None), unset[1], unset[2]),
        HoldState.RELEASED: and_(R.released_at.is_not(None), unset[0], unset[2]),
        HoldState.EXPIRED: and_(R.expired_at.is_not(None), unset[0], unset[1]),
    }
    wrong = or_(*(and_(R.state == state, ~ok) for state, ok in expected.items()))
    rows = session.execute(select(R.hold_ref, R.id, R.state).where(wrong)).all()
    return [
        f"hold {ref} (reservation {rid}) is {state.value} without exactly its {state.value} time"
        for ref, rid, state in rows
    ]


def holds_move_together(session: Session, now: datetime) -> list[str]:
    R = Reservation
    rows = session.execute(
        select(R.hold_ref)
        .group_by(R.hold_ref)
        .having(
            or_(
                func.count(func.distinct(R.state)) > 1,
                func.count(func.distinct(R.expires_at)) > 1,
                func.count(func.distinct(R.variant_id)) < func.count(R.id),
            )
        )
    ).all()
    return [f"hold {ref}: its rows disagree on state or deadline" for (ref,) in rows]


HOLD_REFERENCE = "hold:"


def sales_match_committed_holds(session: Session, now: datetime) -> list[str]:
    """Each committed hold's units taken from stock equal the SALE movements naming it."""
    sold: dict[tuple[str, int], int] = {}
    for reference, vid, total in session.execute(
        select(StockMovement.reference, StockMovement.variant_id, func.sum(StockMovement.delta))
        .where(
            StockMovement.reason == MovementReason.SALE,
            StockMovement.reference.like(HOLD_REFERENCE + "%"),
        )
        .group_by(StockMovement.reference, StockMovement.variant_id)
    ):
        sold[(reference[len(HOLD_REFERENCE) :], vid)] = -int(total)
    committed: dict[tuple[str, int], int] = {}
    for ref, vid, from_stock in session.execute(
        select(
            Reservation.hold_ref,
            Reservation.variant_id,
            Reservation.quantity - Reservation.backorder_quantity,
        ).where(Reservation.state == HoldState.COMMITTED)
    ):
        if from_stock:
            committed[(ref, vid)] = int(from_stock)
    return [
        f"hold {ref}: variant {vid} sold {committed.get((ref, vid), 0)} from stock "
        f"but SALE movements took {sold.get((ref, vid), 0)}"
        for ref, vid in sorted(set(sold) | set(committed))
        if sold.get((ref, vid), 0) != committed.get((ref, vid), 0)
    ]


def captured_payments_have_an_order_or_a_refund(session: Session, now: datetime) -> list[str]:
    """Every captured payment belongs to exactly one live order, or is refunded in full."""
    from app.models import Order, OrderStatus, Payment, PaymentStatus, Refund, RefundStatus

    refunded = (
        select(Refund.payment_id, func.sum(Refund.amount_cents).label("total"))
        .where(Refund.status.in_([RefundStatus.SUCCEEDED, RefundStatus.PENDING]))
        .group_by(Refund.payment_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Payment.provider,
            Payment.provider_ref,
            Payment.captured_cents,
            Order.number,
            Order.status,
            func.coalesce(refunded.c.total, 0),
        )
        .outerjoin(Order, Order.id == Payment.order_id)
        .outerjoin(refunded, refunded.c.payment_id == Payment.id)
        .where(
            Payment.captured_cents > 0,
            Payment.status.in_(
                [PaymentStatus.CAPTURED, PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED]
            ),
        )
    ).all()
    dead = (None, OrderStatus.CANCELLED, OrderStatus.PENDING_PAYMENT)
    problems = []
    for provider, ref, captured, number, status, refund_total in rows:
        if status in dead and refund_total < captured:
            where = f"order {number} is {status.value}" if number else "no order"
            problems.append(
                f"{provider} payment {ref}: {captured} captured, {where}, only "
                f"{refund_total} refunded"
            )
    return problems


def one_order_per_checkout(session: Session, now: datetime) -> list[str]:
    from app.models import Order

    rows = session.execute(
        select(Order.checkout_id, func.count(Order.id))
        .group_by(Order.checkout_id)
        .having(func.count(Order.id) > 1)
    ).all()
    return [f"checkout {cid} has {n} orders" for cid, n in rows]


def digital_stock_matches_keys(session: Session, now: datetime) -> list[str]:
    """A digital variant's on-hand stock is its pool of available keys."""
    from app.models import KeyState, LicenseKey, Product, ProductKind

    available = (
        select(LicenseKey.variant_id, func.count(LicenseKey.id).label("n"))
        .where(LicenseKey.state == KeyState.AVAILABLE)
        .group_by(LicenseKey.variant_id)
        .subquery()
    )
    rows = session.execute(
        select(Variant.sku, Variant.on_hand, func.coalesce(available.c.n, 0))
        .join(Product, Product.id == Variant.product_id)
        .outerjoin(available, available.c.variant_id == Variant.id)
        .where(
            Product.kind == ProductKind.DIGITAL, Variant.on_hand != func.coalesce(available.c.n, 0)
        )
    ).all()
    return [f"{sku}: on_hand is {on_hand} but {n} keys are available" for sku, on_hand, n in rows]


def delivered_keys_match_lines(session: Session, now: datetime) -> list[str]:
    """Each digital order line holds exactly as many keys as it counts delivered."""
    from app.models import LicenseKey, OrderLine, Product, ProductKind

    assigned = (
        select(LicenseKey.order_line_id, func.count(LicenseKey.id).label("n"))
        .where(LicenseKey.order_line_id.is_not(None))
        .group_by(LicenseKey.order_line_id)
        .subquery()
    )
    rows = session.execute(
        select(OrderLine.id, OrderLine.quantity_fulfilled, func.coalesce(assigned.c.n, 0))
        .join(Variant, Variant.id == OrderLine.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .outerjoin(assigned, assigned.c.order_line_id == OrderLine.id)
        .where(
            Product.kind == ProductKind.DIGITAL,
            OrderLine.quantity_fulfilled != func.coalesce(assigned.c.n, 0),
        )
    ).all()
    return [f"order line {lid}: {done} delivered but {n} keys assigned" for lid, done, n in rows]


# ---------------------------------------------------------------- money and orders

GRACE = timedelta(minutes=2)  # work that may still be in flight is not a broken promise yet
LIVE = ("paid", "fulfilled", "partially_fulfilled", "awaiting_stock", "shipped", "return_requested")


def refunds_within_capture(session: Session, now: datetime) -> list[str]:
    """No payment gives back more than it took, and its refunded total is its refunds' sum."""
    from app.models import Payment, Refund, RefundStatus

    succeeded = (
        select(Refund.payment_id, func.sum(Refund.amount_cents).label("total"))
        .where(Refund.status == RefundStatus.SUCCEEDED)
        .group_by(Refund.payment_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Payment.provider,
            Payment.provider_ref,
            Payment.captured_cents,
            Payment.refunded_cents,
            func.coalesce(succeeded.c.total, 0),
        )
        .outerjoin(succeeded, succeeded.c.payment_id == Payment.id)
        .where(
            or_(
                Payment.refunded_cents > Payment.captured_cents,
                func.coalesce(succeeded.c.total, 0) > Payment.captured_cents,
                func.coalesce(succeeded.c.total, 0) != Payment.refunded_cents,
            )
        )
    ).all()
    return [
        f"{provider} payment {ref}: captured {captured}, counts {counted} refunded, its "
        f"refunds sum to {total}"
        for provider, ref, captured, counted, total in rows
    ]


def refunds_reach_their_orders(session: Session, now: datetime) -> list[str]:
    """A refund the provider made is on its order: recorded (and restocked, cancelled, ...) and
    no order paid in full back still reads as live."""
    from app.models import Order, Payment, Refund, RefundStatus

    unapplied = session.execute(
        select(Refund.id, Order.number, Refund.amount_cents)
        .join(Order, Order.id == Refund.order_id)
        .where(
            Refund.status == RefundStatus.SUCCEEDED,
            Refund.applied_at.is_(None),
            Refund.created_at <= now - GRACE,
        )
    ).all()
    live_but_refunded = session.execute(
        select(Order.number, Order.status, Payment.refunded_cents)
        .join(Payment, Payment.order_id == Order.id)
        .where(
            Payment.captured_cents > 0,
            Payment.refunded_cents >= Payment.captured_cents,
            Order.status.in_(LIVE),
        )
    ).all()
    return [
        f"refund {rid} ({amount}) succeeded but order {number} never recorded it"
        for rid, number, amount in unapplied
    ] + [
        f"order {number} is {status.value} but its payment was refunded in full ({cents})"
        for number, status, cents in live_but_refunded
    ]


def cancelled_orders_are_restocked(session: Session, now: datetime) -> list[str]:
    """Units a cancelled order took from the shelf are back on it (RETURN movements naming
    the order), physical goods only (delivered keys stop a cancellation)."""
    from app.models import Checkout, Order, OrderStatus, Product, ProductKind

    problems = []
    cancelled = session.execute(
        select(Order.number, Checkout.hold_ref)
        .join(Checkout, Checkout.id == Order.checkout_id)
        .where(Order.status == OrderStatus.CANCELLED, Checkout.hold_ref.is_not(None))
    ).all()
    physical = (
        select(Variant.id)
        .join(Product, Product.id == Variant.product_id)
        .where(Product.kind == ProductKind.PHYSICAL)
    )
    for number, hold_ref in cancelled:
        taken = dict(
            session.execute(
                select(StockMovement.variant_id, -func.sum(StockMovement.delta))
                .where(
                    StockMovement.reference == f"{HOLD_REFERENCE}{hold_ref}",
                    StockMovement.reason == MovementReason.SALE,
                    StockMovement.variant_id.in_(physical),
                )
                .group_by(StockMovement.variant_id)
            ).all()
        )
        back = dict(
            session.execute(
                select(StockMovement.variant_id, func.sum(StockMovement.delta))
                .where(
                    StockMovement.reference == f"order:{number}",
                    StockMovement.reason == MovementReason.RETURN,
                )
                .group_by(StockMovement.variant_id)
            ).all()
        )
        for vid in sorted(set(taken) | set(back)):
            if int(taken.get(vid, 0) or 0) != int(back.get(vid, 0) or 0):
                problems.append(
                    f"order {number} is cancelled but variant {vid}: "
                    f"{taken.get(vid, 0)} taken from stock, {back.get(vid, 0)} "
                    "put back"
                )
    return problems


def webhooks_are_processed(session: Session, now: datetime) -> list[str]:
    """No webhook event waits: each is processed (or ignored) soon after it arrives."""
    from app.models import WebhookEvent, WebhookState

    rows = session.execute(
        select(
            WebhookEvent.provider,
            WebhookEvent.event_id,
            WebhookEvent.state,
            WebhookEvent.received_at,
        ).where(
            WebhookEvent.state.in_([WebhookState.RECEIVED, WebhookState.FAILED]),
            WebhookEvent.received_at <= now - STUCK_WEBHOOK_AFTER,
        )
    ).all()
    return [
        f"{provider} webhook {event_id} is still {state.value} since {received:%Y-%m-%d %H:%M}Z"
        for provider, event_id, state, received in rows
    ]


STUCK_WEBHOOK_AFTER = timedelta(minutes=15)


def provider_captures_have_orders(
    session: Session, now: datetime, providers: Callable | None = None
) -> list[str]:
    """Money a provider took has a live order or went back, whatever our payments table says:
    testpay's own ledger is read directly; other providers are asked (``providers``) about
    recent payments our table does not count as captured."""
    from app.models import Order, OrderStatus, Payment, PaymentStatus, TestpayPayment

    dead = (OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED)
    captured: dict[tuple[str, str], tuple[int, int]] = {
        ("testpay", ref): (cap, refunded)
        for ref, cap, refunded in session.execute(
            select(
                TestpayPayment.ref, TestpayPayment.captured_cents, TestpayPayment.refunded_cents
            ).where(TestpayPayment.captured_cents > 0)
        )
    }
    if providers is not None:
        for name, ref in session.execute(
            select(Payment.provider, Payment.provider_ref).where(
                Payment.provider != "testpay",
                Payment.status.not_in(
                    [
                        PaymentStatus.CAPTURED,
                        PaymentStatus.REFUNDED,
                        PaymentStatus.PARTIALLY_REFUNDED,
                    ]
                ),
                Payment.created_at >= now - timedelta(days=7),
            )
        ).all():
            try:
                state = providers(name).fetch(ref)
            except Exception:  # noqa: BLE001, S112 - a provider that cannot answer is no verdict
                continue
            if state.captured_cents:
                captured[(name, ref)] = (state.captured_cents, state.refunded_cents)
    problems = []
    for (name, ref), (cap, refunded) in sorted(captured.items()):
        if refunded >= cap:
            continue
        row = session.execute(
            select(Payment.created_at, Order.number, Order.status)
            .outerjoin(Order, Order.id == Payment.order_id)
            .where(Payment.provider == name, Payment.provider_ref == ref)
        ).first()
        if row is not None and row[1] is not None and row[2] not in dead:
            continue
        if row is not None and row[0] > now - GRACE:
            continue  # being completed right now
        where = (
            "no payment of ours"
            if row is None
            else (f"order {row[1]} is {row[2].value}" if row[1] else "no order")
        )
        problems.append(
            f"{name} payment {ref}: the provider captured {cap} (refunded {refunded}) but {where}"
        )
    return problems


CHECKS: list[Callable[[Session, datetime], list[str]]] = [
    ledger_matches_on_hand,
    on_hand_not_negative,
    holds_within_stock,
    backorders_within_quantity,
    hold_states_have_their_times,
    holds_move_together,
    sales_match_committed_holds,
    captured_payments_have_an_order_or_a_refund,
    one_order_per_checkout,
    digital_stock_matches_keys,
    delivered_keys_match_lines,
    refunds_within_capture,
    refunds_reach_their_orders,
    cancelled_orders_are_restocked,
    webhooks_are_processed,
    provider_captures_have_orders,
    *discounts.CHECKS,
]


def check_all(
    session: Session, now: datetime | None = None, *, providers: Callable | None = None
) -> list[str]:
    """Every check; ``providers(name)`` (an adapter factory) lets the money check ask real
    providers about payments our table does not count as captured."""
    now = clock.now(now)
    violations: list[str] = []
    for check in CHECKS:
        found = (
            check(session, now, providers)
            if check is provider_captures_have_orders
            else check(session, now)
        )
        violations.extend(f"[{check.__name__}] {v}" for v in found)
    return violations
