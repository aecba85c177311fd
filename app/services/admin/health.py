"""The admin's health page: the alerts open now and those resolved lately
(``services.ops.alerts``), the public checks (``services.checks.health``: database, Redis)
and what an owner needs beside them: the schema against the migrations' head, the job queue's
depth, the sweeper's last run, the outbox's backlog, this process's memory and the version.
Read only; a part that cannot be read is reported as unknown, never raised."""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.models import Alert, OutboxMessage, OutboxState, SweepRun
from app.services.checks import health as checks
from app.services.ops import alerts as ops_alerts
from app.services.ops.alert_texts import TITLES, lasted

log = logging.getLogger("holdfast.health")


@dataclass(frozen=True)
class Migrations:
    current: str | None
    head: str | None

    @property
    def up_to_date(self) -> bool:
        return self.current is not None and self.current == self.head


@dataclass(frozen=True)
class AlertLine:
    """One alert as the page shows it: what, since when, until when, and what was seen."""

    kind: str
    title: str
    opened_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    lasted: str | None
    detail: str
    notified: bool

    @classmethod
    def of(cls, alert: Alert) -> AlertLine:
        return cls(
            kind=alert.kind.value,
            title=TITLES[alert.kind],
            opened_at=alert.opened_at,
            last_seen_at=alert.last_seen_at,
            resolved_at=alert.resolved_at,
            lasted=lasted(alert.opened_at, alert.resolved_at) if alert.resolved_at else None,
            detail=alert.detail,
            notified=alert.notified,
        )


@dataclass(frozen=True)
class HealthPage:
    open_alerts: list[AlertLine] | None  # None: cannot be read
    resolved_alerts: list[AlertLine]  # the latest, of the last 30 days
    checks: dict[str, Any]  # services.checks.health.check's report
    migrations: Migrations
    queues: dict[str, int] | None  # jobs waiting per RQ queue; None without Redis or if down
    last_sweep: SweepRun | None
    outbox: dict[str, int]  # pending, sending, failed
    memory_mb: dict[str, float | None]  # rss now, peak
    version: str


def migrations(engine: Engine) -> Migrations:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from app.migrate import alembic_config

    try:
        head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # noqa: BLE001 - reported as unknown
        log.warning("health: cannot read the migrations: %s", exc)
        return Migrations(None, None)
    return Migrations(current, head)


def queue_depths(redis_url: str | None) -> dict[str, int] | None:
    if not redis_url:
        return None
    from app.queue import QUEUES, queue

    try:
        return {name: queue(redis_url, name).count for name in QUEUES}
    except Exception as exc:  # noqa: BLE001 - Redis down: the checks already say so
        log.warning("health: cannot read the queue: %s", exc)
        return None


def outbox_backlog(session: Session) -> dict[str, int]:
    counts = dict(
        session.execute(
            select(OutboxMessage.state, func.count())
            .where(
                OutboxMessage.state.in_(
                    (OutboxState.PENDING, OutboxState.SENDING, OutboxState.FAILED)
                )
            )
            .group_by(OutboxMessage.state)
        ).all()
    )
    return {
        s.value: counts.get(s, 0)
        for s in (OutboxState.PENDING, OutboxState.SENDING, OutboxState.FAILED)
    }


def memory_mb() -> dict[str, float | None]:
    """This process's resident memory now (``/proc/self/status``, Linux) and at its peak."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    rss = None
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    return {"rss": round(rss, 1) if rss is not None else None, "peak": round(peak, 1)}


def alert_lines(session: Session) -> tuple[list[AlertLine] | None, list[AlertLine]]:
    """The open alerts and the recent resolved ones; (None, []) when they cannot be read (a
    schema behind the migrations has no alerts table yet: the page says so below)."""
    try:
        alerts = ops_alerts.recent_alerts(session)
    except SQLAlchemyError as exc:
        session.rollback()
        log.warning("health: cannot read the alerts: %s", exc)
        return None, []
    return [AlertLine.of(a) for a in alerts.open], [AlertLine.of(a) for a in alerts.resolved]


def version() -> str:
    try:
        return metadata.version("holdfast")
    except metadata.PackageNotFoundError:
        return checks.VERSION


def health_page(session: Session, engine: Engine, redis_url: str | None) -> HealthPage:
    last = session.scalar(select(SweepRun).order_by(SweepRun.started_at.desc()).limit(1))
    open_alerts, resolved_alerts = alert_lines(session)
    return HealthPage(
        open_alerts=open_alerts,
        resolved_alerts=resolved_alerts,
        checks=checks.check(engine, redis_url),
        migrations=migrations(engine),
        queues=queue_depths(redis_url),
        last_sweep=last,
        outbox=outbox_backlog(session),
        memory_mb=memory_mb(),
        version=version(),
    )
