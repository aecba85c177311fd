"""Changing one's password from the account page: the current password is checked (and
throttled like a log-in, on the account's email and the client's address); the change ends
every session of the account, the caller renews the browser's own."""

from __future__ import annotations

from datetime import datetime

from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.models import User
from app.services import audit, locks
from app.services.accounts import sessions, signin
from app.services.accounts import throttle as throttles
from app.services.errors import DomainError
from app.services.transactions import unit_of_work


class WrongPassword(DomainError):
    status_code = 422


def _matches(password_hash: str, password: str) -> bool:
    try:
        return signin.verify_password(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def change_password(
    session: Session,
    user_id: int,
    current: str,
    new: str,
    *,
    address: str,
    policy: throttles.Policy,
    now: datetime | None = None,
) -> User:
    """Set a new password after checking the current one (throttled like a log-in, on the
    account's email and the client's address); ends every other session. Returns the user
    with its new session version, for the caller to renew this browser's session."""
    now = clock.now(now)
    signin.validate_password(new)
    user = session.get(User, user_id)
    session.rollback()
    if user is None:
        raise DomainError("There is no such account.")
    key = throttles.key_for(user.email, address)
    if throttles.waiting_until(session, key, now) is not None:
        session.rollback()
        raise WrongPassword("Your current password is not right. Wait a moment and try again.")
    if not _matches(user.password_hash, current):
        throttles.record_failure(session, key, policy, now=now)
        raise WrongPassword("Your current password is not right.")
    return _store_password(session, user_id, signin.hash_password(new), key)


@unit_of_work
def _store_password(session: Session, user_id: int, password_hash: str, key: str) -> User:
    begin_write(session)
    user = locks.lock_user(session, user_id)
    if user is None:
        session.rollback()
        raise DomainError("There is no such account.")
    user.password_hash = password_hash
    throttles.clear(session, key)
    audit.record(
        session,
        "user.password_changed",
        actor=user.email,
        actor_id=user.id,
        subject_type="user",
        subject_id=user.id,
    )
    sessions.bump(session, user, "password_changed")
    session.commit()
    return user
