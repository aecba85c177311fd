"""Accounts: creating them, log-in with argon2id hashes and throttling, the first owner.

Passwords are hashed with argon2-cffi's ``PasswordHasher`` (argon2id); hashes made with older
parameters are upgraded at the next successful log-in. Failed log-ins never lock an account:
they slow down the (email, client address) pair that made them (``throttle``). Every failure
reads the same, whatever the account's state. Shoppers register by confirming their email
(``registration``); ``register_user`` creates an account directly (the CLI's owner, tests).
"""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.models import Role, User
from app.services import audit, locks
from app.services.accounts import sessions
from app.services.accounts import throttle as throttles
from app.services.errors import Conflict, DomainError
from app.services.transactions import unit_of_work

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
FAILURE = "That email and password do not match an account."
WAIT_HINT = "Wait a moment before trying again."

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


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; raises argon2's errors otherwise."""
    return _hasher.verify(password_hash, password)


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


def authenticate(
    session: Session,
    email: str,
    password: str,
    *,
    address: str,
    policy: throttles.Policy | None = None,
    now: datetime | None = None,
) -> User:
    """Return the active user whose password matches, or raise ``AuthError`` with one message
    for every failure (unknown email, wrong password, disabled), so accounts can't be probed.
    A pair (email, ``address``) that must wait is refused before any password is checked (the
    message adds a hint to wait, the same for every email). The password is checked with no
    transaction open (argon2 takes a while); a failure is then counted on the pair."""
    now = clock.now(now)
    policy = policy or throttles.Policy()
    key = throttles.key_for(email, address)
    if throttles.waiting_until(session, key, now) is not None:
        session.rollback()
        raise AuthError(f"{FAILURE} {WAIT_HINT}")
    user = find_user(session, email)
    session.rollback()
    matched, rehash = _check(user, password)
    if user is None or not matched or not user.active:
        throttles.record_failure(session, key, policy, now=now)
        raise AuthError(FAILURE)
    user = _record_login(session, user.id, key, rehash, now)
    if user is None:
        raise AuthError(FAILURE)
    return user


def _check(user: User | None, password: str) -> tuple[bool, str | None]:
    """(matched, a new hash when the stored one uses old parameters)."""
    if user is None:
        _hasher.hash(password)  # spend the same time as a real check
        return False, None
    try:
        verify_password(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    return True, hash_password(password) if _hasher.check_needs_rehash(user.password_hash) else None


@unit_of_work
def _record_login(
    session: Session, user_id: int, key: str, rehash: str | None, now: datetime
) -> User | None:
    """Record a good log-in (the pair's failures forgotten); None if the account went away or
    was deactivated meanwhile."""
    user = locks.lock_user(session, user_id)
    if user is None or not user.active:
        session.rollback()
        return None
    if rehash is not None:
        user.password_hash = rehash
    user.last_login_at = now
    throttles.clear(session, key)
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
    sessions.bump(session, user, "promoted_to_owner", actor="system")
    session.commit()
    return user


def count_owners(session: Session) -> int:
    return session.scalar(select(func.count(User.id)).where(User.role == Role.OWNER)) or 0
