"""People: shoppers with accounts, staff and owners."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, str_enum, utcnow

DEFAULT_WHERE = "is_default"  # the partial index of each user's one default address


class Role(enum.StrEnum):
    """customer: buys. staff: runs the admin pages. owner: staff who also manages staff."""

    CUSTOMER = "customer"
    STAFF = "staff"
    OWNER = "owner"


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[Role] = mapped_column(str_enum(Role), default=Role.CUSTOMER)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    # Part of the session's user id (Flask-Login's alternative id): bumping it on log-out,
    # a password change or reset, a role change or "log out everywhere" ends every session.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.STAFF, Role.OWNER)

    def get_id(self) -> str:  # Flask-Login's alternative id (services/accounts/sessions.py)
        return f"{self.id}:{self.session_version or 0}"


class PasswordResetToken(Base):
    """A password reset link: only the SHA-256 of the token is stored; single use; expires."""

    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class EmailConfirmation(Base):
    """A registration waiting for its email to be confirmed: the account is created only when
    the link is opened, so registering answers the same whether or not the email is taken.
    Only the SHA-256 of the link's token is stored; single use; expires."""

    __tablename__ = "email_confirmations"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class LoginThrottle(Base):
    """Failed log-ins for one (email as typed, client address) pair: each failure past the
    free ones doubles the wait before the next try is checked. Keyed by a hash of both, so an
    unknown email slows down exactly as a real account does, and an attacker elsewhere never
    slows the owner down."""

    __tablename__ = "login_throttles"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class SavedAddress(Base):
    """A shipping address a shopper keeps in their account, to fill the checkout form. At most
    one per user is the default (a partial unique index)."""

    __tablename__ = "addresses"
    __table_args__ = (
        Index(
            "uq_addresses_default_user",
            "user_id",
            unique=True,
            postgresql_where=text(DEFAULT_WHERE),
            sqlite_where=text(DEFAULT_WHERE),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    full_name: Mapped[str] = mapped_column(String(120))
    address_line1: Mapped[str] = mapped_column(String(200))
    address_line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(120))
    region: Mapped[str] = mapped_column(String(120), default="")
    postal_code: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    phone: Mapped[str] = mapped_column(String(32), default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)  # last saved or used
