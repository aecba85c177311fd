"""Emails about registering, written into the outbox in the caller's transaction (nothing here
commits): the link that confirms a new email address and creates the account, and the note to
an existing account that someone tried to register with its email. The confirmation link is a
secret (``SECRET_FIELDS``): erased once sent, never sent after it expired."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app import clock
from app.models import OutboxMessage
from app.services.mail.notifications import queue_email


def email_confirmation(
    session: Session,
    *,
    to: str,
    confirm_link: str,
    expires_hours: int,
    confirmation_id: int,
    name: str = "",
    now: datetime | None = None,
) -> OutboxMessage | None:
    """The link that creates the account (one email per confirmation row)."""
    now = clock.now(now)
    context = {
        "confirm_link": confirm_link,
        "customer_name": name,
        "expires_hours": expires_hours,
        "expires_at": (now + timedelta(hours=expires_hours)).isoformat(),
    }
    return queue_email(
        session,
        kind="email_confirmation",
        to=to,
        dedupe_key=f"email-confirmation:{confirmation_id}",
        context=context,
        subject="Confirm your email to create your account",
        now=now,
    )


def registration_attempt(
    session: Session,
    *,
    to: str,
    user_id: int,
    login_link: str,
    reset_link: str,
    now: datetime | None = None,
) -> OutboxMessage | None:
    """Someone tried to register with an existing account's email: log in or reset. One per
    account and hour (the key names the hour; the caller also skips it within an hour of the
    last one)."""
    now = clock.now(now)
    return queue_email(
        session,
        kind="registration_attempt",
        to=to,
        dedupe_key=f"registration-attempt:{user_id}:{now:%Y%m%d%H}",
        context={"login_link": login_link, "reset_link": reset_link},
        subject="Someone tried to register with your email",
        now=now,
    )
