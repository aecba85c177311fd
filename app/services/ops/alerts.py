"""Alerts an owner receives: the shop answering 5xx, holds not swept, webhooks failing, the
database unreachable, the machine's memory nearly full (``services.ops.conditions`` reads
each; ``services.ops.outage`` handles the database).

``watch`` runs every minute (``app.jobs.watch_alerts`` on ``rq cron``; ``flask admin alerts``
from cron without Redis). An alert is an ``Alert`` row: opened when its condition starts, its
``last_seen_at`` moved on while it lasts, resolved when it ends. Each active owner is emailed
through the outbox once when it opens and once when it is resolved ("back to normal"), never
every minute, unless the owner switched alerts off (``notify_alerts`` in the settings: the rows
are still written). Safe with any number of watchers at once: the open alerts are locked
(``FOR NO KEY UPDATE``), and a partial unique index allows one open alert per kind, so of two
watchers opening the same alert one inserts and emails and the other finds it taken and sends
nothing (SQLite's write lock serialises them outright).

Where this stops and ``services.admin.notices`` begins: the notices tell of each webhook or
email that failed *for good*, one by one, to be looked at and replayed. An alert tells that
something is failing *now* (a rate over the last minutes, a process stopped), once when it
starts and once when it ends; a single failed webhook is the notices' business, a run of them
(``ALERT_WEBHOOK_FAILURES`` in 15 minutes) is an alert."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.models import Alert, AlertKind, Role, User
from app.services import locks
from app.services.admin.settings import get_setting
from app.services.mail import owner_mail
from app.services.ops import conditions, outage
from app.services.ops.alert_texts import email_context
from app.services.ops.conditions import BAD, GOOD, MEMINFO, Reading
from app.services.ops.tallies import Tallies

log = logging.getLogger("holdfast.alerts")

RECENT = timedelta(days=30)


@dataclass(frozen=True)
class Owner:
    id: int
    email: str


@dataclass
class WatchReport:
    """What one run did: alerts opened and resolved (by kind), those open after it, and
    whether the database was down (then nothing else was read) and its email went out."""

    opened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    still_open: list[str] = field(default_factory=list)
    database_down: bool = False
    emailed_directly: bool = False


def watch(
    session: Session,
    config: Mapping[str, Any],
    *,
    now: datetime | None = None,
    meminfo: Path = MEMINFO,
    tallies: Tallies | None = None,
) -> WatchReport:
    """Read every condition and open or resolve its alert; emails are queued in the same
    transaction (the caller has the outbox sent). ``meminfo``: the file memory is read from."""
    now = clock.now(now)
    tallies = tallies or Tallies.from_config(config)
    base = config["SHOP_BASE_URL"].rstrip("/")
    error = outage.database_error(session)
    if error is not None:
        sent = outage.database_down(config, tallies, error, now)
        return WatchReport(database_down=True, emailed_directly=sent)
    report = WatchReport()
    ended = outage.take(tallies)
    if ended is not None:
        _record_taken_outage(session, tallies, ended, now, base, report)
    readings = [
        conditions.errors(tallies, config, now, outage_ended_at=last_outage_end(session)),
        conditions.sweeper(session, config, now),
        conditions.webhooks(session, tallies, config, now),
        conditions.memory(config, meminfo),
    ]
    apply(session, readings, base_url=base, now=now, report=report)
    outage.remember_recipients(tallies, [o.email for o in audience(session)])
    session.rollback()  # the read transaction of audience(): nothing to keep
    return report


def _record_taken_outage(session, tallies, ended, now, base, report) -> None:
    try:
        record_outage(session, ended, now=now, base_url=base)
    except SQLAlchemyError:
        session.rollback()
        outage.put_back(tallies, ended)  # the next run records it
        raise
    report.resolved.append(AlertKind.DATABASE.value)


def audience(session: Session) -> list[Owner]:
    """The active owners, or nobody when the owner switched alert emails off."""
    if not get_setting(session, "notify_alerts"):
        return []
    rows = session.execute(
        select(User.id, User.email)
        .where(User.role == Role.OWNER, User.active.is_(True))
        .order_by(User.id)
    )
    return [Owner(uid, email) for uid, email in rows]


def apply(
    session: Session,
    readings: Sequence[Reading],
    *,
    base_url: str,
    now: datetime,
    report: WatchReport | None = None,
    commit: bool = True,
) -> WatchReport:
    """Open, touch or resolve each reading's alert, with its emails, in one transaction
    (``commit=False`` leaves it open to the caller)."""
    report = report or WatchReport()
    begin_write(session)
    owners = audience(session)
    current = {alert.kind: alert for alert in _lock_open(session)}
    taken = set()  # opened by a concurrent watcher while this one looked
    for reading in readings:
        alert = current.get(reading.kind)
        if reading.state == BAD and alert is not None:
            alert.last_seen_at = now
        elif reading.state == BAD:
            alert = _open(session, reading, now, owners, base_url)
            if alert is None:
                taken.add(reading.kind)
            else:
                current[reading.kind] = alert
                report.opened.append(reading.kind.value)
        elif reading.state == GOOD and alert is not None:
            _resolve(session, alert, now, owners, base_url)
            del current[reading.kind]
            report.resolved.append(reading.kind.value)
    report.still_open = sorted(kind.value for kind in {*current, *taken})
    if commit:
        session.commit()
    return report


def _lock_open(session: Session) -> list[Alert]:
    rows = list(
        session.scalars(
            select(Alert)
            .where(Alert.resolved_at.is_(None))
            .order_by(Alert.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
    )
    locks.note_locked(session, locks.Kind.LEAF, [(Alert.__tablename__, a.id) for a in rows])
    return rows


def _open(
    session: Session, reading: Reading, now: datetime, owners: list[Owner], base_url: str
) -> Alert | None:
    """Insert the open alert and queue its emails; None when a concurrent watcher opened it
    first (the unique index refused this one, in a savepoint: the rest goes on)."""
    alert = Alert(
        kind=reading.kind,
        opened_at=now,
        last_seen_at=now,
        detail=reading.detail,
        notified=bool(owners),
    )
    try:
        with session.begin_nested():
            session.add(alert)
    except IntegrityError:
        log.info("alerts: %s was opened by another watcher", reading.kind.value)
        return None
    log.warning("alerts: opened %s: %s", reading.kind.value, reading.detail)
    _tell(session, alert, owners, base_url)
    return alert


def _resolve(
    session: Session, alert: Alert, now: datetime, owners: list[Owner], base_url: str
) -> None:
    alert.resolved_at = now
    log.warning("alerts: resolved %s (opened %s)", alert.kind.value, alert.opened_at)
    if alert.notified:  # "back to normal" follows an email that said it began
        _tell(session, alert, owners, base_url)


def _tell(session: Session, alert: Alert, owners: list[Owner], base_url: str) -> None:
    context = email_context(
        alert.kind,
        detail=alert.detail,
        opened_at=alert.opened_at,
        resolved_at=alert.resolved_at,
        link=f"{base_url}/admin/health",
    )
    for owner in owners:
        owner_mail.owner_alert(
            session, to=owner.email, owner_id=owner.id, alert_id=alert.id, context=context
        )


def record_outage(session: Session, ended: outage.Outage, *, now: datetime, base_url: str) -> Alert:
    """The database outage seen while it was down, as an alert opened and resolved, and the
    owners' "back to normal" email (sent even when the first one reached nobody: this is the
    first they can hear of it)."""
    begin_write(session)
    alert = Alert(
        kind=AlertKind.DATABASE,
        opened_at=ended.opened_at,
        last_seen_at=ended.last_seen_at,
        resolved_at=now,
        detail=ended.detail,
        notified=ended.notified,
    )
    session.add(alert)
    session.flush()
    _tell(session, alert, audience(session), base_url)
    session.commit()
    return alert


def last_outage_end(session: Session) -> datetime | None:
    return session.scalar(
        select(func.max(Alert.resolved_at)).where(Alert.kind == AlertKind.DATABASE)
    )


@dataclass(frozen=True)
class AlertsView:
    open: list[Alert]
    resolved: list[Alert]


def recent_alerts(session: Session, *, now: datetime | None = None, limit: int = 20) -> AlertsView:
    """Every open alert, and the latest resolved ones of the last 30 days (newest first)."""
    since = clock.now(now) - RECENT
    open_ = session.scalars(
        select(Alert).where(Alert.resolved_at.is_(None)).order_by(Alert.opened_at.desc())
    ).all()
    resolved = session.scalars(
        select(Alert)
        .where(Alert.resolved_at.is_not(None), Alert.resolved_at >= since)
        .order_by(Alert.resolved_at.desc(), Alert.id.desc())
        .limit(limit)
    ).all()
    return AlertsView(list(open_), list(resolved))
