"""Accounts: registration, log-in with argon2id hashes and lock-out, the first owner.

Passwords are hashed with argon2-cffi's ``PasswordHasher`` (argon2id); hashes made with older
parameters are upgraded at the next successful log-in. Five failed log-ins lock an account for
15 minutes; the lock is recorded in the audit log.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.models import Role, User
from app.services import audit, locks
from app.services.errors import Conflict, DomainError
from app.services.transactions import unit_of_work

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
LOCK_AFTER_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)

_hasher = PasswordHasher()


def configure_hasher(hasher: PasswordHasher) -> None:
    """Tests swap in ``argon2.profiles.CHEAPEST`` parameters."""
    global _hasher
    _hasher = hasher


class AuthError(DomainError):
    status_code = 401


def normalize_email(email: str) -> str:
    return email.strip().lower()


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise DomainError(f"Use a password of at most {MAX_PASSWORD_LENGTH} characters.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalize_email(email)))


@unit_of_work
def register_user(
    session: Session, email: str, password: str, name: str = "", role: Role = Role.CUSTOMER
) -> User:
    validate_password(password)
    email = normalize_email(email)
    password_hash = hash_password(password)  # before the write transaction: it takes a while
    begin_write(session)
    if find_user(session, email) is not None:
        session.rollback()
        raise Conflict("An account with that email already exists. Log in instead.")
    user = User(email=email, password_hash=password_hash, name=name.strip(), role=role)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("An account with that email already exists. Log in instead.") from exc
    audit.record(
        session,
        "user.registered",
        actor=email,
        actor_id=user.id,
        subject_type="user",
        subject_id=user.id,
        role=role.value,
    )
    session.commit()
    return user


def authenticate(session: Session, email: str, password: str, now: datetime | None = None) -> User:
    """Return the user whose password matches, or raise ``AuthError`` with one message for
    every failure (unknown email, wrong password, locked, disabled) so accounts can't be
    probed. The password is checked with no transaction open (argon2 takes a while); the
    outcome is then recorded under the user's lock."""
    now = clock.now(now)
    failure = AuthError("That email and password do not match an account.")
    user = find_user(session, email)
    session.rollback()
    if user is None:
        _hasher.hash(password)  # spend the same time as a real check
        raise failure
    if user.locked_until is not None and user.locked_until > now:
        raise AuthError("Too many failed log-ins. Try again in a few minutes.")
    try:
        _hasher.verify(user.password_hash, password)
        matched = True
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        matched = False
    rehash = (
        hash_password(password)
        if matched and _hasher.check_needs_rehash(user.password_hash)
        else None
    )
    user = _record_login(session, user.id, matched, rehash, now)
    if user is None or not matched or not user.active:
        raise failure
    return user


@unit_of_work
def _record_login(
    session: Session, user_id: int, matched: bool, rehash: str | None, now: datetime
) -> User | None:
    """Count a failed log-in (locking the account after too many) or record a good one."""
    user = locks.lock_user(session, user_id)
    if user is None:
        session.rollback()
        return None
    if user.locked_until is not None and user.locked_until > now:
        session.rollback()
        raise AuthError("Too many failed log-ins. Try again in a few minutes.")
    if not matched:
        user.failed_logins += 1
        if user.failed_logins >= LOCK_AFTER_FAILURES:
            user.locked_until = now + LOCK_FOR
            user.failed_logins = 0
            audit.record(
                session,
                "user.locked",
                actor=user.email,
                actor_id=user.id,
                subject_type="user",
                subject_id=user.id,
            )
        session.commit()
        return user
    if not user.active:
        session.rollback()
        return user
    if rehash is not None:
        user.password_hash = rehash
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record(
        session,
        "user.logged_in",
        actor=user.email,
        actor_id=user.id,
        subject_type="user",
        subject_id=user.id,
    )
    session.commit()
    return user


@unit_of_work
def create_owner(session: Session, email: str, password: str) -> User:
    """Make an owner account, or promote an existing account to owner (password reset too)."""
    validate_password(password)
    user = find_user(session, email)
    if user is None:
        return register_user(session, email, password, role=Role.OWNER)
    password_hash = hash_password(password)
    user = locks.lock_user(session, user.id)
    user.role = Role.OWNER
    user.password_hash = password_hash
    user.active = True
    audit.record(session, "user.promoted_to_owner", subject_type="user", subject_id=user.id)
    session.commit()
    return user


def count_owners(session: Session) -> int:
    return session.scalar(select(func.count(User.id)).where(User.role == Role.OWNER)) or 0
