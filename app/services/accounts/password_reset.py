"""Password reset by email: a random token whose SHA-256 alone is stored, single use, expiring.

Asking for a reset never tells whether the email has an account. Setting a new password uses
the token up, voids the user's other tokens and ends every session of the account.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.models import PasswordResetToken, User
from app.services import audit, locks
from app.services.accounts import sessions
from app.services.accounts import signin as accounts
from app.services.errors import DomainError
from app.services.mail import notifications
from app.services.transactions import unit_of_work

TOKEN_TTL = timedelta(minutes=30)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ResetRequest:
    user: User
    token: str  # the only copy of the token: it goes into the email, never the database


def request_reset(
    session: Session, email: str, *, now: datetime | None = None
) -> ResetRequest | None:
    """Create a reset token for the account with ``email`` (None when there is none: the
    caller answers the same either way). The caller queues the email in this transaction."""
    now = clock.now(now)
    begin_write(session)
    user = accounts.find_user(session, email)
    if user is None or not user.active:
        session.rollback()
        return None
    token = issue_token(session, user, TOKEN_TTL, now=now)
    audit.record(
        session,
        "user.password_reset_requested",
        actor=user.email,
        actor_id=user.id,
        subject_type="user",
        subject_id=user.id,
    )
    session.flush()
    return ResetRequest(user, token)


def issue_token(session: Session, user: User, ttl: timedelta, *, now: datetime) -> str:
    """Store a new token for ``user`` (its hash only), valid for ``ttl``, in the caller's write
    transaction; returns the token itself (staff invitations use it too, with a longer ttl)."""
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordResetToken(
            user_id=user.id, token_hash=_hash(token), created_at=now, expires_at=now + ttl
        )
    )
    return token


@unit_of_work
def send_reset_link(
    session: Session, email: str, base_url: str, *, now: datetime | None = None
) -> None:
    """Queue a reset link for the account with ``email``, if there is one (the shopper is
    told the same either way), with its email, in one transaction."""
    reset = request_reset(session, email, now=now)
    if reset is None:
        return
    notifications.password_reset(
        session,
        to=reset.user.email,
        reset_link=f"{base_url.rstrip('/')}/password/reset/{reset.token}",
        expires_minutes=int(TOKEN_TTL.total_seconds() // 60),
        user_id=reset.user.id,
    )
    session.commit()


def valid_token(session: Session, token: str, now: datetime | None = None) -> bool:
    now = clock.now(now)
    row = session.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == _hash(token))
    )
    return row is not None and row.used_at is None and row.expires_at > now


@unit_of_work
def reset_password(
    session: Session, token: str, new_password: str, *, now: datetime | None = None
) -> User:
    now = clock.now(now)
    accounts.validate_password(new_password)
    begin_write(session)
    found = session.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == _hash(token))
    )
    user = locks.lock_user(session, found.user_id) if found is not None else None
    row = locks.lock_leaf(session, PasswordResetToken, found.id) if found is not None else None
    if row is None or user is None or row.used_at is not None or row.expires_at <= now:
        session.rollback()
        raise DomainError("This reset link has expired or was already used. Ask for a new one.")
    user.password_hash = accounts.hash_password(new_password)
    row.used_at = now
    session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
    )
    audit.record(
        session,
        "user.password_reset",
        actor=user.email,
        actor_id=user.id,
        subject_type="user",
        subject_id=user.id,
    )
    sessions.bump(session, user, "password_reset")
    session.commit()
    return user
