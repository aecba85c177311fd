"""The outbox for the owner: every email with its state, attempts and last error (filtered,
paged); sending one again; and reading any message as it is sent.

Sending again:
- a failed (or still pending) email goes back to ``pending`` with a fresh set of attempts
  (``services.mail.outbox.retry_message``): the same message, the same Message-ID;
- a sent email is never moved back: a new copy is queued as a new outbox row with the same
  kind, recipient, subject and context, under a new dedupe key ``resend:<id>:<key>`` where the
  key is drawn when the page is shown, so a double click queues one copy;
- an email whose secret was erased once sent (a password-reset link) cannot be sent again:
  the shopper asks for a new link.
Each leaves an audit row in the transaction that does it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import begin_write
from app.models import OutboxMessage, OutboxState
from app.services import audit, locks
from app.services.admin.paging import paged
from app.services.catalog.browse import Page
from app.services.errors import Conflict, DomainError, NotFound
from app.services.mail import outbox
from app.services.mail.notifications import KINDS, SECRET_FIELDS, queue_email
from app.services.mail.rendering import Claim, build_email, message_id_for
from app.services.transactions import unit_of_work

STATES = tuple(s.value for s in OutboxState)
KEY = re.compile(r"^[0-9a-f]{16,64}$")


@dataclass(frozen=True)
class EmailFilter:
    state: OutboxState | None = None
    kind: str = ""
    q: str = ""


def parse_filter(state: str | None, kind: str | None, q: str | None) -> EmailFilter:
    if state and state not in STATES:
        raise DomainError(f"There is no email state {state!r}.")
    if kind and kind not in KINDS:
        raise DomainError(f"There is no email kind {kind!r}.")
    return EmailFilter(OutboxState(state) if state else None, kind or "", (q or "").strip()[:100])


def list_emails(session: Session, filters: EmailFilter, page: int = 1) -> Page[OutboxMessage]:
    stmt = select(OutboxMessage).order_by(OutboxMessage.id.desc())
    if filters.state is not None:
        stmt = stmt.where(OutboxMessage.state == filters.state)
    if filters.kind:
        stmt = stmt.where(OutboxMessage.template == filters.kind)
    if filters.q:
        stmt = stmt.where(func.lower(OutboxMessage.to_address).like(f"%{filters.q.lower()}%"))
    return paged(session, stmt, page)


def get_email(session: Session, message_id: int) -> OutboxMessage:
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(f"No email {message_id}.")
    return message


@dataclass(frozen=True)
class Rendered:
    headers: list[tuple[str, str]]
    text: str
    html: str
    error: str | None = None


def render_as_sent(message: OutboxMessage, config: Mapping[str, Any]) -> Rendered:
    """The message as the mail server gets it (``mail.rendering.build_email``)."""
    claim = Claim(
        id=message.id,
        attempts=message.attempts,
        claimed_at=message.claimed_at or message.sent_at or message.created_at,
        dedupe_key=message.dedupe_key,
        template=message.template,
        to_address=message.to_address,
        subject=message.subject,
        context=message.context,
        message_id=message.message_id
        or message_id_for(message.dedupe_key, config["MAIL_DEFAULT_SENDER"]),
    )
    try:
        email = build_email(claim, config)
    except Exception as exc:  # a template that cannot render this context: say so, not a 500
        return Rendered([], "", "", f"{type(exc).__name__}: {exc}")
    text = email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    return Rendered(list(email.items()), text, html)


@unit_of_work
def resend(session: Session, message_id: int, key: str, *, actor: str) -> OutboxMessage:
    """Send an email again (see the module's docstring); returns the message that will go
    out: the same row (failed or pending) or the new copy (sent)."""
    if not KEY.match(key or ""):
        raise DomainError("The form expired; reload the page and try again.")
    begin_write(session)
    message = locks.lock_leaf(session, OutboxMessage, message_id)
    if message is None:
        session.rollback()
        raise NotFound(f"No email {message_id}.")
    if message.state is not OutboxState.SENT:
        before = message.state.value
        audit.record(
            session,
            "email.retried",
            actor=actor,
            subject_type="outbox_message",
            subject_id=message_id,
            before=before,
            after="pending",
        )
        return outbox.retry_message(session, message_id)  # commits, or rolls back and refuses
    return _copy(session, message, key, actor)


def _copy(session: Session, message: OutboxMessage, key: str, actor: str) -> OutboxMessage:
    if SECRET_FIELDS.get(message.template):
        session.rollback()
        raise Conflict(
            "This email held a secret link that was erased once sent; ask the shopper to "
            "request a new one."
        )
    dedupe_key = f"resend:{message.id}:{key}"
    copy = queue_email(
        session,
        kind=message.template,
        to=message.to_address,
        dedupe_key=dedupe_key,
        context=message.context,
        subject=message.subject,
        order_id=message.order_id,
    )
    if copy is None:  # a double click: the first click queued it
        session.rollback()
        return session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key))
    audit.record(
        session,
        "email.resent",
        actor=actor,
        subject_type="outbox_message",
        subject_id=message.id,
        copy_id=copy.id,
        dedupe_key=dedupe_key,
    )
    session.commit()
    return copy
