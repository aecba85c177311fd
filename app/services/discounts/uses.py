"""A limited code's uses, held like stock: taken at checkout, committed at payment, released on
cancel, failure or expiry.

Promises (``flask holdfast verify`` checks them against the rows):

- ``uses`` + the holds still ``held`` with a deadline after now never exceed ``usage_limit``.
  A hold is taken in one transaction that locks the code's row (``FOR NO KEY UPDATE`` on
  Postgres; ``BEGIN IMMEDIATE`` on SQLite), then counts the live holds in a later statement (so
  it sees every hold committed before the lock was granted), checks and inserts.
- An expired hold counts for nothing from its deadline, whether or not the sweeper has released
  it: the count is taken from the rows as of ``now``.
- ``uses`` equals the number of committed holds: it moves only with a hold's commit, under the
  code's lock.

Locks follow the one order (``services.locks``): ... hold rows → the discount code → its
discount holds → license keys, so a checkout may take a discount hold after its stock hold.
Every change is an audit row (``discount.held``, ``.extended``, ``.committed``, ``.released``).
Services take ``now`` (read after the locks when not given), commit unless given
``commit=False``, and are retried as units of work on deadlocks and the like.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.models import DiscountCode, DiscountHold, DiscountHoldState
from app.services import audit, locks
from app.services.discounts import rules
from app.services.errors import Conflict, NotFound
from app.services.transactions import owned_transaction, unit_of_work


class DiscountHoldNotFound(rules.DiscountError, NotFound):
    pass


class CodeNoLongerAvailable(rules.DiscountError, Conflict):
    """At payment, the hold had expired and no use of the code was left."""


@dataclass(frozen=True)
class DiscountUse:
    """A hold as of the instant it was read; ``state`` is effective: a held hold whose deadline
    has passed reads ``expired``."""

    hold_id: int
    code_id: int
    code: str
    checkout_id: int | None
    shopper_key: str
    state: str
    expires_at: datetime

    @property
    def is_live(self) -> bool:
        return self.state == DiscountHoldState.HELD.value


def _view(code: DiscountCode, hold: DiscountHold, now: datetime) -> DiscountUse:
    state = hold.state.value
    if hold.state is DiscountHoldState.HELD and hold.expires_at <= now:
        state = "expired"
    return DiscountUse(
        hold.id, code.id, code.code, hold.checkout_id, hold.shopper_key, state, hold.expires_at
    )


def _record(
    session: Session, action: str, code: DiscountCode, hold: DiscountHold, actor: str, **details
) -> None:
    audit.record(
        session,
        action,
        actor=actor,
        subject_type="discount_code",
        subject_id=code.id,
        code=code.code,
        hold_id=hold.id,
        checkout_id=hold.checkout_id,
        shopper=hold.shopper_key,
        uses=code.uses,
        **details,
    )


def _live_hold_of_checkout(
    session: Session, code_id: int, checkout_id: int | None, now: datetime
) -> DiscountHold | None:
    if checkout_id is None:
        return None
    hold_id = session.scalar(
        select(DiscountHold.id).where(
            DiscountHold.code_id == code_id,
            DiscountHold.checkout_id == checkout_id,
            DiscountHold.state == DiscountHoldState.HELD,
            DiscountHold.expires_at > now,
        )
    )
    return None if hold_id is None else locks.lock_discount_hold(session, hold_id)


@unit_of_work
def hold_use(
    session: Session,
    code: str,
    checkout_id: int | None,
    shopper: str,
    expires_at: datetime,
    now: datetime | None = None,
    *,
    subtotal_cents: int | None = None,
    currency: str | None = None,
    product_ids: Iterable[int] | None = None,
    actor: str = "system",
    commit: bool = True,
) -> DiscountUse:
    """Hold one use of ``code`` for ``checkout_id`` until ``expires_at`` (the checkout's
    deadline), if the code's rules let ``shopper`` use it and a use is free. Applying the code
    again to the same checkout returns its live hold (with the later deadline). Given
    ``subtotal_cents``, the minimum spend is checked too. Raises a ``DiscountError`` saying
    why not (:class:`~rules.CodeUsedUp` when every use is taken)."""
    code_id = rules.find_code(session, code).id
    with owned_transaction(session, commit):
        row = locks.lock_discount_code(session, code_id)
        now = clock.now(now)
        if expires_at <= now:
            raise rules.DiscountError("A discount hold needs a deadline in the future.")
        hold = _live_hold_of_checkout(session, row.id, checkout_id, now)
        if hold is not None:
            if expires_at > hold.expires_at:
                hold.expires_at, hold.updated_at = expires_at, now
                _record(
                    session,
                    "discount.extended",
                    row,
                    hold,
                    actor,
                    expires_at=expires_at.isoformat(),
                )
            return _view(row, hold, now)
        rules.check_dates(row, now)
        if subtotal_cents is not None:
            rules.check_spend(row, subtotal_cents, currency, product_ids)
        rules.check_shopper(session, row, shopper, now)
        rules.check_free(session, row, now)
        hold = DiscountHold(
            code_id=row.id,
            checkout_id=checkout_id,
            shopper_key=shopper,
            state=DiscountHoldState.HELD,
            expires_at=expires_at,
            created_at=now,
            updated_at=now,
        )
        session.add(hold)
        session.flush()
        _record(session, "discount.held", row, hold, actor, expires_at=expires_at.isoformat())
        use = _view(row, hold, now)
    return use


def _lock(session: Session, hold_id: int) -> tuple[DiscountCode, DiscountHold]:
    """The hold's code, then the hold: the one lock order (the code id never changes)."""
    code_id = session.scalar(select(DiscountHold.code_id).where(DiscountHold.id == hold_id))
    if code_id is None:
        raise DiscountHoldNotFound(f"There is no discount hold {hold_id}.")
    code = locks.lock_discount_code(session, code_id)
    return code, locks.lock_discount_hold(session, hold_id)


@unit_of_work
def commit_use(
    session: Session,
    hold_id: int,
    now: datetime | None = None,
    *,
    actor: str = "system",
    commit: bool = True,
) -> DiscountUse:
    """Count the hold's use at payment. Safe to repeat: a committed hold is returned unchanged.

    A live hold always commits. A hold that expired (or was released) before the payment came
    commits only if a use is still free and, for a once-per-shopper code, the shopper has no
    other use or live hold; else :class:`CodeNoLongerAvailable`. Dates and minimum spend are
    not asked again: the shopper was shown the discount while the code was valid."""
    with owned_transaction(session, commit):
        code, hold = _lock(session, hold_id)
        now = clock.now(now)
        if hold.state is DiscountHoldState.COMMITTED:
            return _view(code, hold, now)
        late = not (hold.state is DiscountHoldState.HELD and hold.expires_at > now)
        if late:
            try:
                rules.check_shopper(session, code, hold.shopper_key, now, other_than=hold.id)
                rules.check_free(session, code, now)
            except rules.DiscountError as refused:
                why = (
                    "you have already used it."
                    if isinstance(refused, rules.AlreadyUsedByShopper)
                    else "all its uses were taken before your payment arrived."
                )
                raise CodeNoLongerAvailable(
                    f"The code {code.code} is no longer available: {why}"
                ) from refused
        hold.state = DiscountHoldState.COMMITTED
        hold.committed_at = now
        hold.updated_at = now
        code.uses += 1
        _record(session, "discount.committed", code, hold, actor, late=late)
        use = _view(code, hold, now)
    return use


@unit_of_work
def release(
    session: Session,
    hold_id: int,
    reason: str = "cancelled",
    now: datetime | None = None,
    *,
    actor: str = "system",
    commit: bool = True,
) -> DiscountUse:
    """Give the hold's use back (``reason``: cancelled, failed, expired, ...). Safe to repeat:
    a released hold is returned unchanged. A committed hold was paid for and cannot be
    released (:class:`~app.services.errors.Conflict`)."""
    with owned_transaction(session, commit):
        code, hold = _lock(session, hold_id)
        now = clock.now(now)
        if hold.state is DiscountHoldState.RELEASED:
            return _view(code, hold, now)
        if hold.state is DiscountHoldState.COMMITTED:
            raise Conflict(
                f"The code {code.code} was used at payment on this checkout; "
                "that use cannot be given back here."
            )
        hold.state = DiscountHoldState.RELEASED
        hold.released_at = min(now, hold.expires_at)  # an expired hold stopped counting then
        hold.released_reason = reason[:40]
        hold.updated_at = now
        _record(session, "discount.released", code, hold, actor, reason=hold.released_reason)
        use = _view(code, hold, now)
    return use


def holds_of_checkout(session: Session, checkout_id: int) -> list[DiscountHold]:
    """The checkout's discount holds, oldest first (for the pipeline's undo steps)."""
    return list(
        session.scalars(
            select(DiscountHold)
            .where(DiscountHold.checkout_id == checkout_id)
            .order_by(DiscountHold.id)
        )
    )


# ---------------------------------------------------------------- a checkout's holds


def _held_of_checkout(session: Session, checkout_id: int) -> list[int]:
    return list(
        session.scalars(
            select(DiscountHold.id)
            .where(
                DiscountHold.checkout_id == checkout_id,
                DiscountHold.state == DiscountHoldState.HELD,
            )
            .order_by(DiscountHold.id)
        )
    )


def extend_for_checkout(
    session: Session, checkout_id: int, expires_at: datetime, now: datetime
) -> int:
    """Move the checkout's live discount holds to its new deadline (the shopper extended the
    stock hold). In the caller's transaction, which holds the checkout's lock. Returns how many
    moved; an expired hold stays expired (it is taken again at payment if a use is free)."""
    moved = 0
    for hold_id in _held_of_checkout(session, checkout_id):
        code, hold = _lock(session, hold_id)
        if hold.state is DiscountHoldState.HELD and now < hold.expires_at < expires_at:
            hold.expires_at, hold.updated_at = expires_at, now
            _record(session, "discount.extended", code, hold, "shopper", expires_at=str(expires_at))
            moved += 1
    return moved


def release_for_checkout(session: Session, checkout_id: int, reason: str, now: datetime) -> int:
    """Give back the checkout's held uses (cancel, failure, expiry, a code removed), in the
    caller's transaction. Returns how many were released."""
    held = _held_of_checkout(session, checkout_id)
    for hold_id in held:
        release(session, hold_id, reason, now, commit=False)
    return len(held)


def commit_for_checkout(session: Session, checkout_id: int, code: str, now: datetime) -> int:
    """Count the use of ``code`` (the code the checkout was priced with; "" for none) at
    payment, in the caller's transaction: its newest hold for the checkout commits, late if it
    had ended or been released (then only if a use is still free). Returns how many uses were
    counted (0 when none is due or it already was). Raises :class:`CodeNoLongerAvailable`."""
    if not code:
        return 0
    rows = session.execute(
        select(DiscountHold.id, DiscountHold.state)
        .join(DiscountCode, DiscountCode.id == DiscountHold.code_id)
        .where(DiscountHold.checkout_id == checkout_id, DiscountCode.code == code)
        .order_by(DiscountHold.id.desc())
    ).all()
    if not rows or any(state is DiscountHoldState.COMMITTED for _, state in rows):
        return 0
    commit_use(session, rows[0][0], now, commit=False)
    return 1
