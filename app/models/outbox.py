"""The email outbox: every email the shop sends is first a row here, written in the same
transaction as the change it reports, so an email exists exactly when its change committed.

``dedupe_key`` is unique and derived from the event (``order-confirmed:42``), so a retried
transaction never queues a second email. The row holds everything needed to render the email
(``template`` + ``context``), never a reference that must still be true at send time.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, str_enum, utcnow


class OutboxState(enum.StrEnum):
    """pending: waiting to be sent at ``next_attempt_at`` (again, after a failed attempt).
    sending: claimed by a sender that is talking to the mail server right now (one that dies
    mid-send leaves it here; after the sending timeout it is sent again: at least once).
    sent: the mail server accepted it (or, without a mail server, it was written to a file).
    failed: given up: too many attempts, refused for good or expired; ``flask mail retry``
    sends it again."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


# The only moves a message makes (services.mail.outbox.move refuses any other).
# pending/failed -> sent is a send that outlived the sending timeout and finished after all:
# the truth wins.
TRANSITIONS: dict[OutboxState, frozenset[OutboxState]] = {
    OutboxState.PENDING: frozenset({OutboxState.SENDING, OutboxState.SENT}),
    OutboxState.SENDING: frozenset({OutboxState.SENT, OutboxState.PENDING, OutboxState.FAILED}),
    OutboxState.FAILED: frozenset({OutboxState.PENDING, OutboxState.SENT}),
    OutboxState.SENT: frozenset(),
}


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    template: Mapped[str] = mapped_column(String(64))
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[OutboxState] = mapped_column(str_enum(OutboxState), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    message_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
