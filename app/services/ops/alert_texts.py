"""What each alert says to the owner: a title (the subject line) and what to do about it, and
the context of its email (``owner_alert``: the same for the outbox and for the email sent
straight to the mail server while the database is down)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.models import AlertKind

TITLES = {
    AlertKind.ERRORS: "Errors (5xx) from the shop",
    AlertKind.SWEEPER: "Expired holds not swept",
    AlertKind.WEBHOOKS: "Payment webhooks failing",
    AlertKind.DATABASE: "Database unreachable",
    AlertKind.MEMORY: "Memory nearly full",
}

ADVICE = {
    AlertKind.ERRORS: (
        "Shoppers are seeing error pages. Read the web server's log for the cause "
        "(journalctl -u holdfast-web -n 200); the health page says whether the database or "
        "Redis is down."
    ),
    AlertKind.SWEEPER: (
        "The background worker or its schedule has stopped: check them with "
        "systemctl status holdfast-worker holdfast-cron and restart them (without Redis, the "
        "cron job that runs flask stock cleanup). Expired holds already stopped counting "
        "against stock; flask stock cleanup marks them by hand."
    ),
    AlertKind.WEBHOOKS: (
        "Payments may not be confirmed. Check that the webhook secret in your settings matches "
        "the one in your payment provider's dashboard, and read its delivery log; the admin's "
        "Webhooks page lists the events that failed and replays them. Refused requests can also "
        "be someone probing the address: if every provider shows its deliveries as successful, "
        "nothing is lost."
    ),
    AlertKind.DATABASE: (
        "The shop answers every page with 'try again' until the database is back. Check that "
        "the database server is running (systemctl status postgresql) and that its disk is not "
        "full."
    ),
    AlertKind.MEMORY: (
        "The server may start killing processes. See what uses memory (top, sorted by memory); "
        "fewer gunicorn workers or a larger server help."
    ),
}

RESOLVED_ADVICE = "Nothing to do now. Every alert, open and past, is on the health page."


def when(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else None


def lasted(opened_at: datetime, resolved_at: datetime) -> str:
    minutes = max(1, round((resolved_at - opened_at).total_seconds() / 60))
    if minutes < 120:
        return f"{minutes} minute{'' if minutes == 1 else 's'}"
    return f"{minutes / 60:.1f} hours"


def email_context(
    kind: AlertKind,
    *,
    detail: str,
    opened_at: datetime,
    resolved_at: datetime | None,
    link: str,
) -> dict[str, Any]:
    """The ``owner_alert`` email's context: opened, or (with ``resolved_at``) back to normal."""
    return {
        "alert": kind.value,
        "phase": "opened" if resolved_at is None else "resolved",
        "title": TITLES[kind],
        "detail": detail,
        "advice": ADVICE[kind] if resolved_at is None else RESOLVED_ADVICE,
        "opened_at": when(opened_at),
        "resolved_at": when(resolved_at),
        "lasted": lasted(opened_at, resolved_at) if resolved_at is not None else None,
        "link": link,
    }
