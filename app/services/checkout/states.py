"""The checkout state machine: phases, the one transition table, events, the checkout's lock,
and failing a checkout with the undo steps of the phases before the failure.

Phases, in order: cart_validation → inventory_reservation → price_lock → payment_authorization
→ order_creation → payment_capture → stock_commit. The pipeline (``checkout.pipeline``), the
review of a waiting checkout (``checkout.review``), payment authorization and order completion
all move a checkout only through :func:`transition`, along the edges of ``TRANSITIONS``.

Each phase that changes something has an undo step (``UNDO``): a failure in any phase runs the
undo steps of the phases before it, newest first (release the hold, void or refund the payment,
cancel the order), and records the failing phase and reason on the checkout
(:func:`fail_checkout`). Every transition, failure, rollback step and price-drift finding is a
``CheckoutEvent`` row and a JSON log line (:func:`record_event`).
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app import clock, metrics
from app.models import ACTIVE_STATES, Checkout, CheckoutEvent, CheckoutState
from app.services import locks
from app.services.discounts import uses as discount_uses
from app.services.errors import DomainError
from app.services.stock import holds
from app.services.transactions import unit_of_work

log = logging.getLogger("holdfast.checkout")


class Phase(enum.StrEnum):
    CART_VALIDATION = "cart_validation"
    INVENTORY_RESERVATION = "inventory_reservation"
    PRICE_LOCK = "price_lock"
    PAYMENT_AUTHORIZATION = "payment_authorization"
    ORDER_CREATION = "order_creation"
    PAYMENT_CAPTURE = "payment_capture"
    STOCK_COMMIT = "stock_commit"


PHASES = list(Phase)

# The one transition table. A checkout may only move along these edges; ``transition`` refuses
# anything else. Ended checkouts may still move to completing: a payment that lands late is
# re-reserved, back-ordered or refunded, never dropped.
TRANSITIONS: dict[CheckoutState, frozenset[CheckoutState]] = {
    CheckoutState.RESERVED: frozenset(
        {
            CheckoutState.AWAITING_PAYMENT,
            CheckoutState.COMPLETING,
            CheckoutState.EXPIRED,
            CheckoutState.CANCELLED,
            CheckoutState.FAILED,
        }
    ),
    CheckoutState.AWAITING_PAYMENT: frozenset(
        {
            CheckoutState.AWAITING_PAYMENT,
            CheckoutState.RESERVED,
            CheckoutState.COMPLETING,
            CheckoutState.EXPIRED,
            CheckoutState.CANCELLED,
            CheckoutState.FAILED,
        }
    ),
    CheckoutState.COMPLETING: frozenset(
        {
            CheckoutState.COMPLETING,
            CheckoutState.COMPLETED,
            CheckoutState.FAILED,
        }
    ),
    CheckoutState.EXPIRED: frozenset({CheckoutState.COMPLETING}),
    CheckoutState.CANCELLED: frozenset({CheckoutState.COMPLETING}),
    CheckoutState.FAILED: frozenset({CheckoutState.COMPLETING}),
    CheckoutState.COMPLETED: frozenset(),
}


class IllegalTransition(RuntimeError):
    pass


# ---------------------------------------------------------------- events and transitions


def record_event(
    session: Session,
    checkout: Checkout,
    kind: str,
    message: str = "",
    *,
    phase: str | None = None,
    **details: Any,
) -> None:
    """One structured record: a CheckoutEvent row (in the caller's transaction) and a JSON
    log line carrying the checkout id and phase."""
    phase = phase or checkout.phase
    session.add(
        CheckoutEvent(
            checkout_id=checkout.id,
            kind=kind,
            phase=phase,
            state=checkout.state.value,
            message=message,
            details=details,
        )
    )
    log.info(
        json.dumps(
            {
                "event": f"checkout.{kind}",
                "checkout_id": checkout.public_id,
                "phase": phase,
                "state": checkout.state.value,
                "message": message,
                **details,
            },
            default=str,
        )
    )


def transition(
    session: Session,
    checkout: Checkout,
    to: CheckoutState,
    phase: Phase | str,
    message: str = "",
    *,
    now: datetime | None = None,
    **details: Any,
) -> None:
    """Move a checkout along one edge of ``TRANSITIONS`` and record it."""
    if to not in TRANSITIONS[checkout.state]:
        raise IllegalTransition(f"checkout {checkout.public_id}: {checkout.state} → {to}")
    previous = checkout.state
    checkout.state = to
    checkout.phase = str(phase)
    checkout.updated_at = clock.now(now)
    if to not in ACTIVE_STATES:
        checkout.active_cart_id = None
        checkout.ended_at = checkout.ended_at or clock.now(now)
        metrics.checkout_ended(session, to.value)
    record_event(
        session,
        checkout,
        "transition",
        message,
        phase=str(phase),
        **{"from": previous.value, "to": to.value},
        **details,
    )


def lock_checkout(session: Session, checkout_id: int) -> Checkout:
    """Lock one checkout row for a state change (``services.locks``: after its cart, before
    its order, payment, variants and hold)."""
    checkout = locks.lock_checkout(session, checkout_id)
    if checkout is None:
        raise DomainError("No such checkout.")
    return checkout


@unit_of_work
def note_event(session: Session, checkout_id: int, kind: str, message: str, phase: Phase) -> None:
    """Record one event on a checkout, under its lock, in a transaction of its own."""
    checkout = lock_checkout(session, checkout_id)
    record_event(session, checkout, kind, message, phase=phase)
    session.commit()


# ---------------------------------------------------------------- undo steps


def undo_hold(session: Session, checkout: Checkout, now: datetime) -> str:
    """Undo inventory_reservation: release the checkout's stock hold, if it has one, then its
    discount code's held use (locks in the one order: hold rows, then the code). Returns what
    became of them (the rollback step's message)."""
    if not checkout.hold_ref:
        outcome = "no hold"
    else:
        try:
            hold = holds.release_hold(session, checkout.hold_ref, now=now, commit=False)
            outcome = f"hold {hold.state.value}"
        except holds.HoldError as exc:
            outcome = f"hold left as it was: {exc.message}"
    codes = discount_uses.release_for_checkout(session, checkout.id, "checkout ended", now)
    return outcome + (f"; {codes} discount use given back" if codes else "")


# Undo steps of the phases that run in the shop's own transaction. The payment phases' undo
# steps (void, refund) call providers and live in ``orders.completion``.
UNDO: dict[Phase, Callable[[Session, Checkout, datetime], str]] = {
    Phase.INVENTORY_RESERVATION: undo_hold,
}


def fail_checkout(
    session: Session,
    checkout: Checkout,
    phase: Phase,
    reason: str,
    *,
    now: datetime | None = None,
    extra_undo: dict[Phase, Callable[[Session, Checkout, datetime], str]] | None = None,
) -> None:
    """Record a failure in ``phase`` and run the undo steps of the phases before it, newest
    first, each recorded. The caller holds the checkout's lock and commits."""
    now = clock.now(now)
    record_event(session, checkout, "failure", reason, phase=phase.value)
    steps = {**UNDO, **(extra_undo or {})}
    for earlier in reversed(PHASES[: PHASES.index(phase)]):
        undo = steps.get(earlier)
        if undo is not None:
            outcome = undo(session, checkout, now)
            record_event(session, checkout, "rollback", outcome, phase=earlier.value)
    checkout.failure_phase = phase.value
    checkout.failure_reason = reason
    if CheckoutState.FAILED in TRANSITIONS[checkout.state]:
        transition(session, checkout, CheckoutState.FAILED, phase, reason, now=now)
