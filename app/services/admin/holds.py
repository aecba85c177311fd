"""Holds for the owner: how many are live and expired, the live ones with their time left,
releasing one by hand, and running the cleanup (the periodic jobs' work) on demand.

Releasing a hold that belongs to an active checkout ends that checkout through
``services.checkout.pipeline`` (cancelled, its hold released, an event recorded), so no
checkout is left pointing at a released hold; a hold with no active checkout is released
through ``services.stock.holds``. Both leave an audit row in their transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.models import Checkout, CheckoutState, HoldState, Reservation, SweepRun
from app.services import audit, locks
from app.services.admin.dashboard import hold_counts
from app.services.admin.paging import paged
from app.services.catalog.browse import Page
from app.services.checkout import pipeline, review
from app.services.errors import Conflict, NotFound
from app.services.stock import holds, sweeper
from app.services.transactions import unit_of_work

CANCELLABLE = (CheckoutState.RESERVED, CheckoutState.AWAITING_PAYMENT)


@dataclass(frozen=True)
class LiveHold:
    ref: str
    expires_at: datetime
    seconds_left: int
    lines: list[tuple[str, int]]  # (sku, quantity)
    checkout: Checkout | None


@dataclass(frozen=True)
class Overview:
    live: int
    expired: int
    runs: list[SweepRun]  # the newest sweeps first


def overview(session: Session, now: datetime | None = None, runs: int = 10) -> Overview:
    live, expired = hold_counts(session, clock.now(now))
    recent = list(session.scalars(select(SweepRun).order_by(SweepRun.id.desc()).limit(runs)))
    return Overview(live, expired, recent)


def live_holds(session: Session, page: int = 1, now: datetime | None = None) -> Page[LiveHold]:
    """Live holds (active, deadline ahead), the soonest to expire first."""
    now = clock.now(now)
    refs = paged(
        session,
        select(Reservation.hold_ref)
        .where(Reservation.state == HoldState.ACTIVE, Reservation.expires_at > now)
        .group_by(Reservation.hold_ref)
        .order_by(func.min(Reservation.expires_at), Reservation.hold_ref),
        page,
    )
    rows = session.scalars(
        select(Reservation).where(Reservation.hold_ref.in_(refs.items)).order_by(Reservation.id)
    ).all()
    checkouts = {
        c.hold_ref: c
        for c in session.scalars(select(Checkout).where(Checkout.hold_ref.in_(refs.items)))
    }
    items = []
    for ref in refs.items:
        mine = [r for r in rows if r.hold_ref == ref]
        expires = min(r.expires_at for r in mine)
        items.append(
            LiveHold(
                ref,
                expires,
                max(0, int((expires - now).total_seconds())),
                [(r.variant.sku, r.quantity) for r in mine],
                checkouts.get(ref),
            )
        )
    return Page(items, refs.page, refs.per_page, refs.total)


@unit_of_work
def release(
    session: Session, hold_ref: str, *, actor: str, now: datetime | None = None
) -> tuple[bool, str]:
    """Release a live hold by hand; returns (released now, the hold's state): a double click
    releases once, the second click is told the state it was already in. Refuses a hold whose
    checkout is being paid for right now (its payment is in; it becomes an order)."""
    now = clock.now(now)
    begin_write(session)
    first = session.scalar(select(Reservation).where(Reservation.hold_ref == hold_ref).limit(1))
    if first is None:
        session.rollback()
        raise NotFound("There is no such hold.")
    before = holds.effective_state(first, now)
    if before is not HoldState.ACTIVE:
        session.rollback()
        return False, before.value
    checkout = session.scalar(select(Checkout).where(Checkout.hold_ref == hold_ref))
    if checkout is not None and checkout.state is CheckoutState.COMPLETING:
        session.rollback()
        raise Conflict("This hold's checkout is being paid for right now; it cannot be released.")
    ended = None
    if checkout is not None and checkout.state in CANCELLABLE and checkout.active_cart_id:
        locks.lock_cart(session, checkout.active_cart_id)
        cancelled = pipeline.cancel_active_for_cart(
            session, checkout.active_cart_id, "the shop released the hold", now=now
        )
        if cancelled is None:  # the checkout moved on since we looked (paid, or ended)
            session.rollback()
            raise Conflict("This hold's checkout changed just now; reload the page.")
        ended = cancelled.public_id
    else:
        holds.release_hold(session, hold_ref, now=now, commit=False)
    after = _state_of(session, hold_ref, now)
    audit.record(
        session,
        "hold.released",
        actor=actor,
        subject_type="hold",
        hold_ref=hold_ref,
        before=before.value,
        after=after,
        checkout_cancelled=ended,
    )
    session.commit()
    return True, after


def _state_of(session: Session, hold_ref: str, now: datetime) -> str:
    row = session.scalar(
        select(Reservation)
        .where(Reservation.hold_ref == hold_ref)
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return holds.effective_state(row, now).value


@dataclass(frozen=True)
class Cleanup:
    checkouts_expired: int
    sweep: sweeper.SweepResult


def run_cleanup(session: Session, *, actor: str, batch_size: int) -> Cleanup:
    """What the periodic jobs do, now: record the checkouts whose hold ran out, then sweep the
    expired holds (a ``SweepRun`` with trigger ``admin``). Safe to repeat: a second run finds
    nothing left. Its audit row is written once the sweep is done, in its own transaction
    (the sweep commits batch by batch)."""
    ended = review.end_stale_checkouts(session)
    result = sweeper.sweep_expired_holds(session, batch_size=batch_size, trigger="admin")
    _audit_cleanup(session, actor, ended, result)
    return Cleanup(ended, result)


@unit_of_work
def _audit_cleanup(session: Session, actor: str, ended: int, result: sweeper.SweepResult) -> None:
    begin_write(session)
    audit.record(
        session,
        "holds.cleanup",
        actor=actor,
        subject_type="sweep_run",
        subject_id=result.run_id,
        checkouts_expired=ended,
        holds_expired=result.expired,
        batches=result.batches,
    )
    session.commit()
