"""The conditions the alerts watch, each read into a ``Reading``: ``bad`` (open its alert),
``good`` (resolve it) or ``same`` (between the two thresholds, or not readable now: leave the
alert as it is). Two thresholds, not one, so a number hovering at the line does not open and
resolve an alert, and email the owner, every minute.

- errors: more than ``ALERT_5XX_THRESHOLD`` answers with status 5xx in 5 minutes, every process
  counted (``app.alerting``); back to normal at half of it.
- sweeper: holds not swept for ``ALERT_SWEEP_MINUTES`` (at least two sweep intervals) where a
  sweeper is expected: with ``REDIS_URL`` (the worker and ``rq cron`` sweep), or without Redis
  once a cron job has swept (``flask stock cleanup``) and expired holds wait for it. A shop
  without Redis that never set one up is not alerted: expired holds stop counting against
  stock at their deadline whether or not they are marked.
- webhooks: ``ALERT_WEBHOOK_FAILURES`` or more in 15 minutes of requests to ``/webhooks/…``
  refused or not answered (bad signature, malformed, the provider's verification unreachable)
  plus verified events that failed in processing; back to normal at none.
- memory: more than ``ALERT_MEMORY_PERCENT`` of the machine's memory in use (``MemTotal`` less
  ``MemAvailable`` in ``/proc/meminfo``); back to normal 5 points under it.

The database being unreachable is not a reading: it is ``services.ops.outage``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import AlertKind, HoldState, Reservation, SweepRun, WebhookEvent, WebhookState
from app.services.ops.alert_texts import when
from app.services.ops.tallies import Tallies

BAD, GOOD, SAME = "bad", "good", "same"
ERRORS_MINUTES = 5
WEBHOOK_MINUTES = 15
MEMORY_MARGIN = 5  # percentage points under the threshold before memory is back to normal
MEMINFO = Path("/proc/meminfo")


@dataclass(frozen=True)
class Reading:
    kind: AlertKind
    state: str  # BAD, GOOD or SAME
    detail: str = ""


def errors(
    tallies: Tallies,
    config: Mapping[str, Any],
    now: datetime,
    *,
    outage_ended_at: datetime | None = None,
) -> Reading:
    """5xx answers in the last 5 minutes. Those of a database outage that ended within the
    window are the database alert's, already told: they neither open nor resolve this one."""
    threshold = config["ALERT_5XX_THRESHOLD"]
    count = tallies.count("5xx", ERRORS_MINUTES, now)
    if count is None:
        return Reading(AlertKind.ERRORS, SAME, "the count cannot be read (Redis is down)")
    detail = (
        f"The shop answered {count} request{'' if count == 1 else 's'} with an error (5xx) in "
        f"the last {ERRORS_MINUTES} minutes; the alert opens above {threshold}."
    )
    if count > threshold:
        explained = outage_ended_at and outage_ended_at >= now - timedelta(minutes=ERRORS_MINUTES)
        return Reading(AlertKind.ERRORS, SAME if explained else BAD, detail)
    return Reading(AlertKind.ERRORS, GOOD if count <= threshold // 2 else SAME, detail)


def sweep_limit(config: Mapping[str, Any]) -> timedelta:
    return timedelta(
        minutes=max(config["ALERT_SWEEP_MINUTES"], 2 * config["HOLD_SWEEP_INTERVAL_MINUTES"])
    )


def sweeper(session: Session, config: Mapping[str, Any], now: datetime) -> Reading:
    """Bad when a sweeper is expected and has not run within the limit, and either expired
    holds wait for it or (with Redis) it used to run: its worker or schedule stopped."""
    limit = sweep_limit(config)
    cutoff = now - limit
    last = session.scalar(select(func.max(SweepRun.started_at)))
    waiting = session.scalar(
        select(func.count())
        .select_from(Reservation)
        .where(Reservation.state == HoldState.ACTIVE, Reservation.expires_at <= cutoff)
    )
    with_redis = bool(config.get("REDIS_URL"))
    by_cron = session.scalar(select(SweepRun.id).where(SweepRun.trigger == "cli").limit(1))
    expected = with_redis or by_cron is not None
    stale = last is None or last < cutoff
    if not (expected and stale and (waiting or (with_redis and last is not None))):
        return Reading(AlertKind.SWEEPER, GOOD)
    ran = "has never run" if last is None else f"last ran at {when(last)}"
    detail = (
        f"The hold sweeper {ran}; it should run at least every {int(limit.total_seconds() // 60)}"
        f" minutes. {waiting} hold{'' if waiting == 1 else 's'} expired before {when(cutoff)} "
        f"{'is' if waiting == 1 else 'are'} still marked active."
    )
    return Reading(AlertKind.SWEEPER, BAD, detail)


def webhooks(
    session: Session, tallies: Tallies, config: Mapping[str, Any], now: datetime
) -> Reading:
    threshold = config["ALERT_WEBHOOK_FAILURES"]
    refused = tallies.count("webhook", WEBHOOK_MINUTES, now)
    failed = session.scalar(
        select(func.count())
        .select_from(WebhookEvent)
        .where(
            WebhookEvent.state == WebhookState.FAILED,
            WebhookEvent.received_at >= now - timedelta(minutes=WEBHOOK_MINUTES),
        )
    )
    total = failed + (refused or 0)
    how_many = refused if refused is not None else "an unknown number of"
    detail = (
        f"In the last {WEBHOOK_MINUTES} minutes: {how_many}"
        f" webhook request{'' if refused == 1 else 's'} refused or not answered (a bad "
        f"signature, a malformed body, or the provider's check unreachable) and {failed} "
        f"verified event{'' if failed == 1 else 's'} that failed in processing; the alert "
        f"opens at {threshold}."
    )
    if total >= threshold:
        return Reading(AlertKind.WEBHOOKS, BAD, detail)
    if refused is None or total:
        return Reading(AlertKind.WEBHOOKS, SAME, detail)
    return Reading(AlertKind.WEBHOOKS, GOOD, detail)


def read_meminfo(path: Path) -> tuple[int, int]:
    """(MemTotal, MemAvailable) in KiB from a ``/proc/meminfo``-shaped file."""
    values = {}
    for line in path.read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("MemTotal", "MemAvailable") and rest.split():
            values[name] = int(rest.split()[0])
    if values.get("MemTotal", 0) <= 0 or "MemAvailable" not in values:
        raise ValueError(f"{path} has no MemTotal and MemAvailable")
    return values["MemTotal"], values["MemAvailable"]


def memory(config: Mapping[str, Any], meminfo: Path = MEMINFO) -> Reading:
    threshold = config["ALERT_MEMORY_PERCENT"]
    try:
        total, available = read_meminfo(meminfo)
    except (OSError, ValueError) as exc:
        return Reading(AlertKind.MEMORY, SAME, f"memory cannot be read: {exc}")
    used = 100 * (total - available) / total
    detail = (
        f"{used:.0f}% of the server's memory is in use ({(total - available) / 2**20:.1f} of "
        f"{total / 2**20:.1f} GiB); the alert opens above {threshold}%."
    )
    if used > threshold:
        return Reading(AlertKind.MEMORY, BAD, detail)
    return Reading(AlertKind.MEMORY, GOOD if used < threshold - MEMORY_MARGIN else SAME, detail)
