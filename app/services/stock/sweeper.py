"""The hold sweeper: marks active holds whose deadline has passed as ``expired``.

Nothing depends on it for correctness: an expired hold stops counting at its deadline (see
``services.inventory``). The sweeper keeps the states truthful for people and reports, in
bounded batches, one short transaction each. On Postgres a batch claims its rows with
``FOR UPDATE SKIP LOCKED``, so any number of sweepers can run at once without waiting on each
other or on a checkout that holds a hold's rows; on SQLite the write transaction (``BEGIN
IMMEDIATE``) serialises them. Every run leaves a ``SweepRun`` row saying when it ran and what
it did, updated after each batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import clock, metrics
from app.db import begin_write
from app.models import HoldState, Reservation, SweepRun
from app.services import locks
from app.services.discounts import sweeper as discount_sweeper
from app.services.transactions import unit_of_work

DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True)
class SweepResult:
    run_id: int
    expired: int
    batches: int
    started_at: datetime
    finished_at: datetime
    discount_holds_released: int = 0


def _expire_batch(session: Session, now: datetime, batch_size: int) -> int:
    """Claim up to ``batch_size`` expired holds and mark them; return how many.

    Two statements on purpose: Postgres may rescan a ``LIMIT … FOR UPDATE SKIP LOCKED``
    subquery inside an UPDATE and claim more rows than the limit (measured: 10 for a limit of
    4), so the claimed ids are read first and then updated."""
    ids = session.scalars(
        select(Reservation.id)
        .where(Reservation.state == HoldState.ACTIVE, Reservation.expires_at <= now)
        .order_by(Reservation.expires_at)
        .limit(batch_size)
        .with_for_update(key_share=True, skip_locked=True)
    ).all()
    if not ids:
        return 0
    locks.note_locked(session, locks.Kind.HOLD, ids, waits=False)
    session.execute(
        update(Reservation)
        .where(Reservation.id.in_(ids))
        .values(state=HoldState.EXPIRED, expired_at=Reservation.expires_at)
        .execution_options(synchronize_session=False)
    )
    return len(ids)


def sweep_expired_holds(
    session: Session,
    *,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
    trigger: str = "cli",
) -> SweepResult:
    """Expire every hold whose deadline is at or before ``now`` (read once, at the start), in
    batches of ``batch_size`` until none are left or ``max_batches`` have run; then release the
    expired discount holds the same way (``services.discounts.sweeper``). Safe to run twice,
    and alongside other sweepers."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = clock.now(now)
    run_id = _start_run(session, trigger)
    batches = expired = 0
    try:
        while max_batches is None or batches < max_batches:
            done = _sweep_batch(session, run_id, now, batch_size)
            if done == 0:
                break
            expired += done
            batches += 1
        released = discount_sweeper.sweep_expired_discount_holds(
            session, now=now, batch_size=batch_size, max_batches=max_batches
        )
        run = _finish_run(session, run_id)
    except BaseException:
        session.rollback()  # the run keeps the batches it committed and no finished_at
        raise
    return SweepResult(
        run.id, run.expired_count, run.batches, run.started_at, run.finished_at, released
    )


@unit_of_work
def _start_run(session: Session, trigger: str) -> int:
    begin_write(session)
    run = SweepRun(started_at=clock.utcnow(), trigger=trigger[:32], expired_count=0, batches=0)
    session.add(run)
    session.commit()
    return run.id


@unit_of_work
def _sweep_batch(session: Session, run_id: int, now: datetime, batch_size: int) -> int:
    """One batch, and the run's count of it, in one short transaction (the run row has one
    writer, its sweeper)."""
    begin_write(session)
    expired = _expire_batch(session, now, batch_size)
    if expired:
        run = session.get(SweepRun, run_id)
        run.expired_count += expired
        run.batches += 1
        metrics.hold_lines_swept(session, expired)
    session.commit()
    return expired


@unit_of_work
def _finish_run(session: Session, run_id: int) -> SweepRun:
    begin_write(session)
    run = session.get(SweepRun, run_id)
    run.finished_at = clock.utcnow()
    session.commit()
    return run


def last_sweep(session: Session) -> SweepRun | None:
    """The most recent sweep run, finished or not."""
    return session.scalars(select(SweepRun).order_by(SweepRun.id.desc()).limit(1)).first()
