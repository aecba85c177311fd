"""People, for the admin: failed log-ins (the throttled pairs; clearing them), and the shop's
staff (invite by email, change a role, deactivate and reactivate; the last two end the
person's sessions at once). Only the owner manages staff
(``permissions``); the shop always keeps one active owner. Every change is audited with the
value before and after.

An invitation makes (or promotes) the account as staff and emails a link to choose a password:
a password-reset token (``accounts.password_reset``) with a longer life. A new account has no
usable password until then."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.models import Role, User
from app.services import audit, locks
from app.services.accounts import password_reset, sessions
from app.services.accounts import signin as accounts
from app.services.accounts import throttle as throttles
from app.services.errors import Conflict, DomainError, NotFound
from app.services.mail import notifications

INVITE_TTL = timedelta(days=7)
NO_PASSWORD = "!invited"  # noqa: S105 - not an argon2 hash: no password matches it
STAFF_ROLES = (Role.STAFF, Role.OWNER)


# ---------------------------------------------------------------- security


def login_throttles(session: Session, now: datetime | None = None) -> throttles.Summary:
    """Failed log-ins of the last day, by (email, address) pair: how many pairs, how many
    must wait now, how many failures (the pairs are hashed: nobody's email is shown)."""
    return throttles.summary(session, now)


def clear_login_throttles(session: Session, *, actor: str, now: datetime | None = None) -> int:
    """Forget every pair's failed log-ins and waits (someone stuck waiting asks for help);
    returns how many pairs were cleared (0: nothing to clear, nothing audited)."""
    before = throttles.summary(session, now)
    begin_write(session)
    cleared = throttles.clear_all(session)
    if not cleared:
        session.rollback()
        return 0
    audit.record(
        session,
        "login_throttles.cleared",
        actor=actor,
        pairs=cleared,
        before={"waiting": before.waiting, "failures": before.failures},
    )
    session.commit()
    return cleared


# ---------------------------------------------------------------- staff


def list_staff(session: Session) -> list[User]:
    order = (User.role.desc(), User.email)  # owner, staff (alphabetical by role value)
    return list(session.scalars(select(User).where(User.role.in_(STAFF_ROLES)).order_by(*order)))


def _active_owner_ids(session: Session) -> list[int]:
    stmt = select(User.id).where(User.role == Role.OWNER, User.active.is_(True))
    return sorted(session.scalars(stmt))


def _lock_with_owners(session: Session, user_id: int) -> tuple[User, list[int]]:
    """Lock the account and every active owner (ascending ids), so two owners demoting each
    other at once cannot leave the shop without one."""
    begin_write(session)
    owners = _active_owner_ids(session)
    found = {}
    for uid in sorted({*owners, user_id}):
        found[uid] = locks.lock_user(session, uid)
    user = found.get(user_id)
    if user is None:
        session.rollback()
        raise NotFound("There is no such account.")
    return user, _active_owner_ids(session)


def _keep_an_owner(session: Session, user: User, owners: list[int], what: str) -> None:
    if user.id in owners and len(owners) <= 1:
        session.rollback()
        raise Conflict(
            f"{user.email} is the shop's only active owner and cannot be {what}: "
            "make someone else an owner first."
        )


def change_role(session: Session, user_id: int, role: Role, *, actor: str) -> bool:
    """Give an account a role; False when it already has it. The last owner stays owner."""
    user, owners = _lock_with_owners(session, user_id)
    if user.role == role:
        session.rollback()
        return False
    if role != Role.OWNER:
        _keep_an_owner(session, user, owners, "demoted")
    before = user.role
    user.role = role
    audit.record(
        session,
        "staff.role_changed",
        actor=actor,
        subject_type="user",
        subject_id=user.id,
        email=user.email,
        before=before.value,
        after=role.value,
    )
    sessions.bump(session, user, "role_changed", actor=actor)
    session.commit()
    return True


def set_active(session: Session, user_id: int, active: bool, *, actor: str) -> bool:
    """Deactivate (their session stops working at once) or reactivate an account; False when
    it already is. The last active owner cannot be deactivated."""
    user, owners = _lock_with_owners(session, user_id)
    if user.active == active:
        session.rollback()
        return False
    if not active:
        _keep_an_owner(session, user, owners, "deactivated")
    user.active = active
    audit.record(
        session,
        "staff.reactivated" if active else "staff.deactivated",
        actor=actor,
        subject_type="user",
        subject_id=user.id,
        email=user.email,
        before={"active": not active},
        after={"active": active},
    )
    if not active:
        sessions.bump(session, user, "deactivated", actor=actor)
    session.commit()
    return True


@dataclass(frozen=True)
class Invitation:
    user: User
    created: bool  # a new account (else an existing customer promoted)


def invite(
    session: Session, email: str, *, actor: str, base_url: str, now: datetime | None = None
) -> Invitation:
    """Make ``email`` a staff member and email them a link to choose their password. Someone
    already on the staff is refused (so a double click sends one invitation)."""
    now = clock.now(now)
    email = accounts.normalize_email(email)
    if "@" not in email or len(email) > 254 or email.startswith("@") or email.endswith("@"):
        raise DomainError("Enter the email address to invite.")
    begin_write(session)
    found = accounts.find_user(session, email)
    user = locks.lock_user(session, found.id) if found is not None else None
    if user is not None and user.role in STAFF_ROLES:
        session.rollback()
        if not user.active:
            raise Conflict(f"{email} is on the staff but deactivated: reactivate them instead.")
        raise Conflict(f"{email} is already on the staff.")
    created = user is None
    if user is None:
        user = User(email=email, password_hash=NO_PASSWORD, name="", role=Role.STAFF)
        session.add(user)
        session.flush()
    before = None if created else {"role": user.role.value, "active": user.active}
    user.role, user.active = Role.STAFF, True
    token = password_reset.issue_token(session, user, INVITE_TTL, now=now)
    audit.record(
        session,
        "staff.invited",
        actor=actor,
        subject_type="user",
        subject_id=user.id,
        email=email,
        before=before,
        after={"role": Role.STAFF.value, "active": True},
    )
    notifications.staff_invite(
        session,
        to=email,
        link=f"{base_url.rstrip('/')}/password/reset/{token}",
        invited_by=actor,
        expires_days=INVITE_TTL.days,
        user_id=user.id,
        now=now,
    )
    session.commit()
    return Invitation(user, created)
