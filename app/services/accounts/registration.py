"""Registering without telling who is registered: the answer is "check your email" either way.

A new email gets an ``EmailConfirmation`` (the password already hashed, the link's token only
as its SHA-256, 24 hours to live) and an email with the link; opening the link creates the
account. An email that already has an account gets, instead, a note that someone tried to
register with it (with links to log in or reset the password), at most one an hour. Both
paths hash the password first, outside the write transaction, so they take the same time.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.models import EmailConfirmation, OutboxMessage, Role, User
from app.services import audit, locks
from app.services.accounts import guest_orders as guest_orders_of
from app.services.accounts import signin
from app.services.errors import Conflict, DomainError
from app.services.mail import account_mail
from app.services.transactions import unit_of_work

CONFIRM_TTL = timedelta(hours=24)
ATTEMPT_EMAIL_EVERY = timedelta(hours=1)
CONFIRMATIONS_PER_HOUR = 3  # per address: registering again resends, a flood does not


class LinkGone(DomainError):
    status_code = 410


class EmailTaken(Conflict):
    pass


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Links:
    """The shop's absolute links the emails carry."""

    base_url: str

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}{path}"


@unit_of_work
def start_registration(
    session: Session,
    email: str,
    password: str,
    name: str,
    *,
    base_url: str,
    now: datetime | None = None,
) -> None:
    """Queue the confirmation link for a new email, or the "someone tried" note for a taken
    one; the caller answers the same either way."""
    now = clock.now(now)
    signin.validate_password(password)
    email = signin.normalize_email(email)
    password_hash = signin.hash_password(password)  # before the write, on both paths
    begin_write(session)
    user = signin.find_user(session, email)
    if user is None:
        _confirm_by_email(session, email, " ".join(name.split()), password_hash, base_url, now)
    else:
        _warn_account(session, user.id, Links(base_url), now)
    session.commit()


def _confirm_by_email(
    session: Session, email: str, name: str, password_hash: str, base_url: str, now: datetime
) -> None:
    recent = session.scalar(
        select(func.count(EmailConfirmation.id)).where(
            EmailConfirmation.email == email,
            EmailConfirmation.created_at > now - timedelta(hours=1),
        )
    )
    if recent >= CONFIRMATIONS_PER_HOUR:
        return
    token = secrets.token_urlsafe(32)
    row = EmailConfirmation(
        email=email,
        name=name[:120],
        password_hash=password_hash,
        token_hash=_hash(token),
        created_at=now,
        expires_at=now + CONFIRM_TTL,
    )
    session.add(row)
    session.flush()
    account_mail.email_confirmation(
        session,
        to=email,
        confirm_link=Links(base_url).url(f"/register/confirm/{token}"),
        expires_hours=int(CONFIRM_TTL.total_seconds() // 3600),
        confirmation_id=row.id,
        name=row.name,
        now=now,
    )
    audit.record(
        session,
        "user.registration_started",
        actor=email,
        subject_type="email_confirmation",
        subject_id=row.id,
    )


def _warn_account(session: Session, user_id: int, links: Links, now: datetime) -> None:
    """The "someone tried to register" note, unless one went out within the hour (the user's
    lock makes the check and the write one step)."""
    user = locks.lock_user(session, user_id)
    if user is None:
        return
    last = session.scalar(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.template == "registration_attempt",
            OutboxMessage.to_address == user.email,
            OutboxMessage.created_at > now - ATTEMPT_EMAIL_EVERY,
        )
        .limit(1)
    )
    if last is not None:
        return
    account_mail.registration_attempt(
        session,
        to=user.email,
        user_id=user.id,
        login_link=links.url("/login"),
        reset_link=links.url("/password/forgot"),
        now=now,
    )
    audit.record(
        session,
        "user.registration_attempted",
        actor="anonymous",
        subject_type="user",
        subject_id=user.id,
    )


def link_email(session: Session, token: str, now: datetime | None = None) -> str | None:
    """The email a confirmation link would create an account for, while the link is good."""
    now = clock.now(now)
    row = session.scalar(
        select(EmailConfirmation).where(EmailConfirmation.token_hash == _hash(token))
    )
    return row.email if row is not None and row.used_at is None and row.expires_at > now else None


@unit_of_work
def confirm(session: Session, token: str, *, now: datetime | None = None) -> User:
    """Create the account a confirmation link stands for; the link is used up, and the
    email's earlier guest orders become the account's (``guest_orders``). Refused (410)
    when the link is unknown, used or expired; ``EmailTaken`` when the email got an account
    meanwhile (the unique email settles a race)."""
    now = clock.now(now)
    begin_write(session)
    found = session.execute(
        select(EmailConfirmation.id, EmailConfirmation.email).where(
            EmailConfirmation.token_hash == _hash(token)
        )
    ).first()
    # The guest orders of the email come before the confirmation's row (locks.py's order).
    guest_orders = guest_orders_of.lock_guest_orders(session, found.email) if found else []
    row = locks.lock_leaf(session, EmailConfirmation, found.id) if found is not None else None
    if row is None or row.used_at is not None or row.expires_at <= now:
        session.rollback()
        raise LinkGone("This link has expired or was already used. Register again for a new one.")
    user = User(email=row.email, password_hash=row.password_hash, name=row.name, role=Role.CUSTOMER)
    _use_up(session, row.email, now)
    if signin.find_user(session, row.email) is not None or not _insert(session, user):
        session.commit()
        raise EmailTaken("This email already has an account: log in, or reset its password.")
    audit.record(
        session,
        "user.registered",
        actor=user.email,
        actor_id=user.id,
        subject_type="user",
        subject_id=user.id,
        role=Role.CUSTOMER.value,
        confirmed=True,
    )
    guest_orders_of.attach(session, user, guest_orders, now)
    session.commit()
    return user


def _use_up(session: Session, email: str, now: datetime) -> None:
    """Every pending link of ``email`` is used (and forgets its password hash)."""
    session.execute(
        update(EmailConfirmation)
        .where(EmailConfirmation.email == email, EmailConfirmation.used_at.is_(None))
        .values(used_at=now, password_hash="")
    )


def _insert(session: Session, user: User) -> bool:
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        return False
    return True


@unit_of_work
def prune_confirmations(session: Session, now: datetime | None = None) -> int:
    """Delete used and expired confirmations (for the sweep job); returns how many."""
    now = clock.now(now)
    begin_write(session)
    gone = session.execute(
        delete(EmailConfirmation).where(
            or_(EmailConfirmation.used_at.is_not(None), EmailConfirmation.expires_at <= now)
        )
    )
    session.commit()
    return gone.rowcount or 0
