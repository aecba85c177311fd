"""Sessions that end: the id a session carries is ``"<user id>:<session version>"``
(Flask-Login's alternative id), and a session whose version is not the account's current one
opens nothing. Bumping the version ends every session of the account at once, remember-me
cookies included (they carry the same id): on log-out, a password change or reset, a role
change, deactivation and "log out everywhere". Each bump leaves a ``user.sessions_ended``
audit row in the transaction that made it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.db import begin_write
from app.models import User
from app.services import audit, locks
from app.services.transactions import unit_of_work

MAX_ID_DIGITS = 10


def parse(value: str | None) -> tuple[int, int] | None:
    """``(user id, version)`` from a session's id, or None when it is not one."""
    if not isinstance(value, str):
        return None
    user_id, sep, version = value.partition(":")
    for part in (user_id, version):
        if not (part.isascii() and part.isdigit()) or len(part) > MAX_ID_DIGITS:
            return None
    return (int(user_id), int(version)) if sep else None


def load(session: Session, value: str | None) -> User | None:
    """The active account a session's id names, if its version is still current."""
    parsed = parse(value)
    if parsed is None:
        return None
    user = session.get(User, parsed[0])
    if user is None or not user.active or user.session_version != parsed[1]:
        return None
    return user


def bump(session: Session, user: User, reason: str, *, actor: str | None = None) -> None:
    """End every session of ``user`` (locked by the caller, in its write transaction)."""
    user.session_version = (user.session_version or 0) + 1
    audit.record(
        session,
        "user.sessions_ended",
        actor=actor or user.email,
        actor_id=None if actor else user.id,  # else the admin's, from the session's info
        subject_type="user",
        subject_id=user.id,
        reason=reason,
    )


@unit_of_work
def end_sessions(session: Session, user_id: int, reason: str) -> bool:
    """Log the account out everywhere (``reason``: "logged_out", "logged_out_everywhere");
    False when there is no such account."""
    begin_write(session)
    user = locks.lock_user(session, user_id)
    if user is None:
        session.rollback()
        return False
    bump(session, user, reason)
    session.commit()
    return True
