"""The database unreachable: the one alert that cannot wait in the outbox, which lives in the
database. The watcher that finds it down emails the owners straight through the mail server
(``MAIL_SERVER``…, as the outbox would: ``mail.rendering`` and ``mail.transports``), at most
once an hour (a claim in ``Tallies``: a Redis key, or a file without Redis), and notes when it
was first and last seen. The owners' addresses are in the database too, so each successful
run remembers them (and ``ALERT_EMAIL`` adds an address that never depends on it).

Once the database answers again, the first watcher to ``take`` the note records the outage as
an alert row, opened and resolved (``services.ops.alerts.record_outage``), and the owners get
the "back to normal" email through the outbox as usual."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.models import AlertKind
from app.services.mail.owner_mail import alert_subject
from app.services.mail.rendering import Claim, build_email, message_id_for
from app.services.mail.transports import describe, make_transport
from app.services.ops.alert_texts import email_context
from app.services.ops.tallies import Tallies

log = logging.getLogger("holdfast.alerts")

NOTE = "outage"  # the outage now or last seen, until it is recorded in the database
MAIL_CLAIM = "outage-mail"  # taken for an hour by the watcher that emails
RECIPIENTS = "recipients"  # the owners to tell, as of the last run that could read them
ONCE_PER_SECONDS = 3600


@dataclass(frozen=True)
class Outage:
    opened_at: datetime
    last_seen_at: datetime
    detail: str
    notified: bool


def database_error(session: Session) -> str | None:
    """None when the database answers; else what went wrong, on one line."""
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        try:
            session.rollback()
        except SQLAlchemyError:
            session.invalidate()
        cause = getattr(exc, "orig", None) or exc
        first_line = (str(cause).strip().splitlines() or [""])[0]
        return f"{type(cause).__name__}: {first_line}"[:300]
    return None


def remember_recipients(tallies: Tallies, emails: list[str]) -> None:
    tallies.note(RECIPIENTS, {"emails": emails})


def recipients(config: Mapping[str, Any], tallies: Tallies) -> list[str]:
    """``ALERT_EMAIL`` (comma-separated) and the owners remembered, each once."""
    configured = [e.strip() for e in (config.get("ALERT_EMAIL") or "").split(",") if e.strip()]
    remembered = (tallies.read(RECIPIENTS) or {}).get("emails", [])
    return list(dict.fromkeys([*configured, *remembered]))


def database_down(config: Mapping[str, Any], tallies: Tallies, error: str, now: datetime) -> bool:
    """Note the outage and, unless someone was told within the hour, tell the owners now.
    Returns whether this call emailed. A failed send gives the claim back for the next run."""
    note = tallies.read(NOTE) or {"opened_at": now.isoformat(), "detail": error, "notified": False}
    note["last_seen_at"] = now.isoformat()
    sent = False
    if tallies.claim(MAIL_CLAIM, ONCE_PER_SECONDS, now):
        sent = send_directly(config, recipients(config, tallies), note, now)
        if not sent:
            tallies.release(MAIL_CLAIM)
    note["notified"] = bool(note.get("notified")) or sent
    tallies.note(NOTE, note)
    return sent


def send_directly(
    config: Mapping[str, Any], to: list[str], note: dict[str, Any], now: datetime
) -> bool:
    """The ``owner_alert`` email, rendered as the outbox would and handed to the mail server
    without a row. True when at least one recipient got it."""
    if not to:
        log.error("alerts: the database is down and nobody can be told (set ALERT_EMAIL)")
        return False
    context = email_context(
        AlertKind.DATABASE,
        detail=note["detail"],
        opened_at=datetime.fromisoformat(note["opened_at"]),
        resolved_at=None,
        link=f"{config['SHOP_BASE_URL'].rstrip('/')}/admin/health",
    )
    transport = make_transport(config)
    sent = 0
    try:
        for address in to:
            key = f"alert-database-{note['opened_at']}-{now.isoformat()}-{address}"
            claim = Claim(
                id=0,
                attempts=1,
                claimed_at=now,
                dedupe_key=key,
                template="owner_alert",
                to_address=address,
                subject=alert_subject(context),
                context=context,
                message_id=message_id_for(key, config["MAIL_DEFAULT_SENDER"]),
            )
            transport.send(build_email(claim, config), claim)
            sent += 1
    except Exception as exc:  # noqa: BLE001 - logged; the next run tries again
        log.error("alerts: the database-down email could not be sent: %s", describe(exc))
    finally:
        transport.close()
    log.warning("alerts: the database is down (%s); %d owner(s) emailed", note["detail"], sent)
    return sent > 0


def take(tallies: Tallies) -> Outage | None:
    """The outage noted while the database was down, if any; of several watchers, one gets
    it (``put_back`` if it cannot be recorded)."""
    note = tallies.take(NOTE)
    if note is None:
        return None
    return Outage(
        opened_at=datetime.fromisoformat(note["opened_at"]),
        last_seen_at=datetime.fromisoformat(note.get("last_seen_at", note["opened_at"])),
        detail=note.get("detail", ""),
        notified=bool(note.get("notified")),
    )


def put_back(tallies: Tallies, outage: Outage) -> None:
    tallies.note(
        NOTE,
        {
            "opened_at": outage.opened_at.isoformat(),
            "last_seen_at": outage.last_seen_at.isoformat(),
            "detail": outage.detail,
            "notified": outage.notified,
        },
    )
