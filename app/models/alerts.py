"""Alerts: something an owner must hear about, from the moment it starts until it ends.

One row per occurrence: opened when its condition starts (the owners are emailed once,
``notified``), ``last_seen_at`` moved on while it lasts, ``resolved_at`` set when it ends (a
"back to normal" email). The rows are the record: ``/admin/health`` lists the open ones and
the recent resolved ones. At most one alert of a kind is open at a time: a partial unique
index (Postgres and SQLite alike) makes a second, concurrent opening fail, so two watchers
running at once send one email (services/ops/alerts.py)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Index, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, str_enum, utcnow

OPEN_WHERE = "resolved_at IS NULL"


class AlertKind(enum.StrEnum):
    """What went wrong: the app answering 5xx, holds not swept, webhooks failing, the database
    unreachable, the machine's memory nearly full."""

    ERRORS = "errors"
    SWEEPER = "sweeper"
    WEBHOOKS = "webhooks"
    DATABASE = "database"
    MEMORY = "memory"


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index(
            "uq_alerts_open_kind",
            "kind",
            unique=True,
            postgresql_where=text(OPEN_WHERE),
            sqlite_where=text(OPEN_WHERE),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AlertKind] = mapped_column(str_enum(AlertKind))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    detail: Mapped[str] = mapped_column(Text, default="")
    # The owners were emailed when it opened (False: no active owner, or alerts switched off).
    notified: Mapped[bool] = mapped_column(Boolean, default=False)

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
