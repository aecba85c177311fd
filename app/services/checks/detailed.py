"""The staff's health report as JSON (``GET /health/detailed``): everything the admin's health
page shows (``services.admin.health``), and the counts behind it: holds, orders by status, the
database's size and connection pool. Read only; each part that cannot be read is None."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, distinct, func, select, text
from sqlalchemy.orm import Session

from app import clock
from app.models import HoldState, Order, Reservation, SweepRun
from app.services.admin import health as admin_health
from app.services.checks import health

log = logging.getLogger("holdfast.health")


def detailed(
    session: Session, engine: Engine, redis_url: str | None, now: datetime | None = None
) -> dict[str, Any]:
    report = health.check(engine, redis_url)
    schema = admin_health.migrations(engine)
    return {
        "status": report["status"],
        "down": report["down"],
        "version": admin_health.version(),
        "checks": report["checks"],
        "migrations": {
            "current": schema.current,
            "head": schema.head,
            "up_to_date": schema.up_to_date,
        },
        "database": _part(database_stats, session, engine),
        "memory_mb": admin_health.memory_mb(),
        "holds": _part(hold_counts, session, clock.now(now)),
        "orders": _part(order_counts, session),
        "sweeper": _part(last_sweep, session),
        "queue": admin_health.queue_depths(redis_url),
        "outbox": _part(admin_health.outbox_backlog, session),
    }


def _part(read, session: Session, *args):
    try:
        return read(session, *args)
    except Exception as exc:  # noqa: BLE001 - reported as unknown, never raised
        session.rollback()
        log.warning("health: cannot read %s: %s", read.__name__, type(exc).__name__)
        return None


def database_stats(session: Session, engine: Engine) -> dict[str, Any]:
    backend = engine.dialect.name
    if backend == "postgresql":
        size = session.scalar(text("SELECT pg_database_size(current_database())"))
    else:
        pages = session.scalar(text("PRAGMA page_count"))
        size = pages * session.scalar(text("PRAGMA page_size"))
    return {"backend": backend, "size_bytes": int(size), "pool": pool_stats(engine)}


def pool_stats(engine: Engine) -> dict[str, Any]:
    pool = engine.pool
    stats: dict[str, Any] = {"kind": type(pool).__name__}
    if hasattr(pool, "checkedout") and hasattr(pool, "overflow"):
        stats.update(size=pool.size(), checked_out=pool.checkedout(), overflow=pool.overflow())
    return stats


def hold_counts(session: Session, now: datetime) -> dict[str, int]:
    """Holds (not their lines): live now, past their deadline but not swept yet, and swept."""

    def count(*where) -> int:
        return session.scalar(select(func.count(distinct(Reservation.hold_ref))).where(*where))

    active = Reservation.state == HoldState.ACTIVE
    return {
        "active": count(active, Reservation.expires_at > now),
        "expired_unswept": count(active, Reservation.expires_at <= now),
        "expired": count(Reservation.state == HoldState.EXPIRED),
    }


def order_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Order.status, func.count()).group_by(Order.status)).all()
    return {status.value: n for status, n in sorted(rows, key=lambda r: r[0].value)}


def last_sweep(session: Session) -> dict[str, Any] | None:
    run = session.scalar(select(SweepRun).order_by(SweepRun.started_at.desc()).limit(1))
    if run is None:
        return None
    return {
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "expired": run.expired_count,
        "batches": run.batches,
        "trigger": run.trigger,
    }
