"""How checkouts fared over a period, for the owner: the funnel (how far each checkout got,
by phase and by state), failure reasons and success rate (``services.checkout.monitor``),
checkouts started and completed per day (or hour) for a chart, and the abandoned ones (expired
or failed, with an email) — to whom, when the owner switches it on, one reminder is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, literal, select
from sqlalchemy.orm import Session, aliased, selectinload

from app import clock
from app.db import begin_write
from app.models import Checkout, CheckoutState, OutboxMessage
from app.services.admin.paging import paged
from app.services.admin.settings import get_setting
from app.services.catalog.browse import Page
from app.services.checkout.monitor import CheckoutSummary, checkout_summary
from app.services.checkout.states import PHASES
from app.services.errors import DomainError
from app.services.mail import notifications

PERIODS = {"24h": 24, "7d": 24 * 7, "30d": 24 * 30}
ABANDONED = (CheckoutState.EXPIRED, CheckoutState.FAILED)
# A reminder goes out once a checkout has been abandoned this long, and not after this long.
REMIND_AFTER = timedelta(hours=1)
REMIND_WITHIN = timedelta(days=3)


@dataclass(frozen=True)
class Report:
    period: str
    summary: CheckoutSummary
    states: list[str]
    funnel: list[tuple[str, dict[str, int]]]  # (phase, {state: count}) in phase order
    buckets: list[tuple[str, int, int]]  # (label, started, completed)


def parse_period(value: str | None) -> str:
    value = value or "24h"
    if value not in PERIODS:
        raise DomainError(f"Choose a period of {', '.join(PERIODS)}.")
    return value


def report(session: Session, period: str, now: datetime | None = None) -> Report:
    now = clock.now(now)
    hours = PERIODS[period]
    since = now - timedelta(hours=hours)
    rows = session.execute(
        select(Checkout.phase, Checkout.state, func.count())
        .where(Checkout.created_at >= since)
        .group_by(Checkout.phase, Checkout.state)
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for phase, state, n in rows:
        counts.setdefault(phase, {})[state.value] = n
    order = [p.value for p in PHASES] + sorted(set(counts) - {p.value for p in PHASES})
    return Report(
        period,
        checkout_summary(session, hours=hours, now=now),
        [s.value for s in CheckoutState],
        [(phase, counts.get(phase, {})) for phase in order],
        _buckets(session, since, now, hourly=hours <= 24),
    )


def _buckets(
    session: Session, since: datetime, now: datetime, *, hourly: bool
) -> list[tuple[str, int, int]]:
    """Started and completed checkouts per hour (a day's report) or per day."""
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    start = since.replace(minute=0, second=0, microsecond=0)
    if not hourly:
        start = start.replace(hour=0)
    rows = session.execute(
        select(Checkout.created_at, Checkout.state).where(Checkout.created_at >= since)
    ).all()
    count = int((now - start) / step) + 1
    started, completed = [0] * count, [0] * count
    for created, state in rows:
        i = min(count - 1, int((created - start) / step))
        started[i] += 1
        completed[i] += state is CheckoutState.COMPLETED
    fmt = "%H:00" if hourly else "%m-%d"
    return [((start + i * step).strftime(fmt), started[i], completed[i]) for i in range(count)]


def reminder_key(public_id: str) -> str:
    return f"checkout-reminder:{public_id}"


def abandoned(session: Session, period: str, page: int = 1, now: datetime | None = None) -> Page:
    """Expired or failed checkouts with an email in the period, newest first, as
    ``(Checkout, reminded)``."""
    since = clock.now(now) - timedelta(hours=PERIODS[period])
    stmt = (
        select(Checkout)
        .where(Checkout.state.in_(ABANDONED), Checkout.email != "", Checkout.created_at >= since)
        .options(selectinload(Checkout.lines))
        .order_by(Checkout.created_at.desc(), Checkout.id.desc())
    )
    result = paged(session, stmt, page)
    keys = {reminder_key(c.public_id) for c in result.items}
    sent = set(
        session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys)))
    )
    items = [(c, reminder_key(c.public_id) in sent) for c in result.items]
    return Page(items, result.page, result.per_page, result.total)


def send_reminders(
    session: Session, *, shop_url: str, now: datetime | None = None, limit: int = 200
) -> int:
    """When the owner switched ``abandoned_reminders`` on: queue one reminder per checkout
    abandoned between ``REMIND_WITHIN`` and ``REMIND_AFTER`` ago, unless the shopper has
    completed a checkout since. One transaction; each email is unique per checkout (its
    dedupe key), so running twice sends nothing twice. Returns how many were queued."""
    if not get_setting(session, "abandoned_reminders"):
        return 0
    now = clock.now(now)
    later = aliased(Checkout)
    bought_since = exists().where(
        and_(
            later.email == Checkout.email,
            later.state == CheckoutState.COMPLETED,
            later.created_at > Checkout.created_at,
        )
    )
    begin_write(session)
    due = session.scalars(
        select(Checkout)
        .where(
            Checkout.state.in_(ABANDONED),
            Checkout.email != "",
            Checkout.ended_at.between(now - REMIND_WITHIN, now - REMIND_AFTER),
            ~bought_since,
            ~exists().where(
                OutboxMessage.dedupe_key == literal(reminder_key("")) + Checkout.public_id
            ),
        )
        .options(selectinload(Checkout.lines))
        .order_by(Checkout.id)
        .limit(limit)
    ).all()
    queued = 0
    for checkout in due:
        queued += (
            notifications.checkout_reminder(
                session,
                to=checkout.email,
                checkout_ref=checkout.public_id,
                items=[(line.name, line.quantity) for line in checkout.lines],
                link=shop_url,
            )
            is not None
        )
    session.commit()
    return queued
