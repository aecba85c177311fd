"""Reports for operators: how checkouts fared over a window of time."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.models import Checkout, CheckoutState


@dataclass(frozen=True)
class CheckoutSummary:
    since: str
    started: int
    completed: int
    expired: int
    cancelled: int
    failed: int
    in_progress: int
    success_rate: float | None  # completed / started, over checkouts started in the window
    median_seconds_to_complete: float | None
    failed_by_phase: dict[str, int] = field(default_factory=dict)
    top_failure_reasons: list[tuple[str, int]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def checkout_summary(
    session: Session, hours: float = 24, now: datetime | None = None, top: int = 5
) -> CheckoutSummary:
    now = clock.now(now)
    since = now - timedelta(hours=hours)
    rows = session.execute(
        select(
            Checkout.state,
            Checkout.failure_phase,
            Checkout.failure_reason,
            Checkout.created_at,
            Checkout.ended_at,
        ).where(Checkout.created_at >= since)
    ).all()
    states = Counter(row.state for row in rows)
    failed = [row for row in rows if row.state is CheckoutState.FAILED]
    durations = [
        (row.ended_at - row.created_at).total_seconds()
        for row in rows
        if row.state is CheckoutState.COMPLETED and row.ended_at
    ]
    started = len(rows)
    return CheckoutSummary(
        since=since.isoformat(timespec="seconds"),
        started=started,
        completed=states[CheckoutState.COMPLETED],
        expired=states[CheckoutState.EXPIRED],
        cancelled=states[CheckoutState.CANCELLED],
        failed=states[CheckoutState.FAILED],
        in_progress=sum(
            states[s]
            for s in (
                CheckoutState.RESERVED,
                CheckoutState.AWAITING_PAYMENT,
                CheckoutState.COMPLETING,
            )
        ),
        success_rate=round(states[CheckoutState.COMPLETED] / started, 4) if started else None,
        median_seconds_to_complete=round(statistics.median(durations), 1) if durations else None,
        failed_by_phase=dict(Counter(row.failure_phase or "unknown" for row in failed)),
        top_failure_reasons=Counter(
            (row.failure_reason or "unknown")[:200] for row in failed
        ).most_common(top),
    )
