"""Releases discount holds whose deadline has passed (the stock sweeper runs it after its own
batches, so the job, ``flask stock cleanup`` and the admin's clean-up all do both).

Nothing depends on it for correctness: an expired hold stops counting at its deadline. It keeps
states truthful, in bounded batches of one short transaction each; on Postgres a batch claims
its rows with ``FOR UPDATE SKIP LOCKED`` (no code lock: an expired hold claims nothing), so it
never waits on a checkout or on another sweeper. Each released hold gets an audit row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.models import DiscountCode, DiscountHold, DiscountHoldState
from app.services import audit, locks
from app.services.transactions import unit_of_work

DEFAULT_BATCH_SIZE = 1000


@unit_of_work
def _release_batch(session: Session, now: datetime, batch_size: int) -> int:
    begin_write(session)
    rows = session.execute(
        select(
            DiscountHold.id,
            DiscountHold.code_id,
            DiscountHold.checkout_id,
            DiscountHold.shopper_key,
        )
        .where(DiscountHold.state == DiscountHoldState.HELD, DiscountHold.expires_at <= now)
        .order_by(DiscountHold.expires_at, DiscountHold.id)
        .limit(batch_size)
        .with_for_update(key_share=True, skip_locked=True)
    ).all()
    if not rows:
        session.commit()
        return 0
    ids = [row.id for row in rows]
    locks.note_locked(session, locks.Kind.DISCOUNT_HOLD, ids, waits=False)
    session.execute(
        update(DiscountHold)
        .where(DiscountHold.id.in_(ids))
        .values(
            state=DiscountHoldState.RELEASED,
            released_at=DiscountHold.expires_at,
            released_reason="expired",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    codes = dict(
        session.execute(
            select(DiscountCode.id, DiscountCode.code).where(
                DiscountCode.id.in_({row.code_id for row in rows})
            )
        ).all()
    )
    for row in rows:
        audit.record(
            session,
            "discount.released",
            subject_type="discount_code",
            subject_id=row.code_id,
            code=codes[row.code_id],
            hold_id=row.id,
            checkout_id=row.checkout_id,
            shopper=row.shopper_key,
            reason="expired",
        )
    session.commit()
    return len(ids)


def sweep_expired_discount_holds(
    session: Session,
    *,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
) -> int:
    """Release every held discount hold whose deadline is at or before ``now``; how many.
    Safe to run twice, and alongside checkouts and other sweepers."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = clock.now(now)
    released = batches = 0
    while max_batches is None or batches < max_batches:
        done = _release_batch(session, now, batch_size)
        if done == 0:
            break
        released += done
        batches += 1
    return released
