"""Sending the outbox: each email at least once per dedupe key, retried until sent or failed.

``send_pending`` claims one due message at a time (Postgres: ``FOR UPDATE SKIP LOCKED``, so any
number of senders run at once; SQLite: the write lock serialises claims), marks it ``sending``
and commits BEFORE talking to the mail server, sends it with no transaction open, then records
the outcome: ``sent``, or back to ``pending`` with a backoff, or ``failed`` after
``MAIL_MAX_ATTEMPTS`` (or at once when the server refuses it for good).

A message still ``sending`` after ``MAIL_SENDING_TIMEOUT_MINUTES`` belongs to a sender that died
between claiming it and writing down the answer. It may or may not have gone out; losing a
confirmation is worse than a second copy, so it is sent again (at least once), with the note
saying so. Every attempt of one message carries the same Message-ID (derived from the dedupe
key), so a second copy can be matched in the mail server's log and folded by mail clients.

Without ``MAIL_SERVER`` (development) messages are written as ``.eml`` files into
``MAIL_FILE_DIR`` and marked sent. Rendering is in ``mail.rendering``, the SMTP and file
transports in ``mail.transports``; writing an email into the outbox (in the caller's
transaction) is ``mail.notifications``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.models import OutboxMessage, OutboxState
from app.models.outbox import TRANSITIONS
from app.services import locks
from app.services.errors import Conflict, NotFound
from app.services.mail.notifications import SECRET_FIELDS
from app.services.mail.rendering import Claim, build_email, message_id_for
from app.services.mail.transports import (
    Transport,
    Unreachable,
    describe,
    is_permanent,
    make_transport,
)
from app.services.transactions import unit_of_work

log = logging.getLogger("holdfast.mail")

# Minutes to wait after the 1st, 2nd, ... failed attempt (the last repeats).
BACKOFF_MINUTES = (1, 5, 15, 60, 120, 240, 480)
INTERRUPTED = (
    "interrupted while sending; sent again (if the first attempt reached the mail server, the "
    "recipient gets two copies with one Message-ID)"
)
ERASED = "(erased after sending)"


class OutboxError(Conflict):
    """A message cannot make the move asked of it."""


@dataclass
class SendReport:
    """What one ``send_pending`` call did. ``retrying``: failed this time, will be tried again.
    ``interrupted``: found stuck in ``sending`` and marked failed. ``stopped``: the mail server
    could not be reached, so the rest of the due messages were left for the next run."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    interrupted: int = 0
    stopped: bool = False

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed


def move(message: OutboxMessage, to: OutboxState) -> None:
    """The one place a message changes state; refuses moves outside ``TRANSITIONS``."""
    if to not in TRANSITIONS[message.state]:
        raise OutboxError(
            f"Email {message.id} is {message.state.value}; it cannot become {to.value}."
        )
    message.state = to


class Expired(Exception):
    """The email is no use any more (a reset link past its deadline)."""


# ---------------------------------------------------------------- sending


def send_pending(
    session: Session,
    config: Mapping[str, Any],
    *,
    now: datetime | None = None,
    limit: int = 50,
    transport: Transport | None = None,
) -> SendReport:
    """Send up to ``limit`` due messages (pending, ``next_attempt_at <= now``), one claim each,
    after failing those left ``sending`` past the timeout. Errors are recorded on the messages,
    not raised. Safe to run from any number of workers at once."""
    tick: Callable[[], datetime] = (lambda: now) if now else clock.utcnow
    start = tick()
    report = SendReport()
    report.interrupted = retry_interrupted(session, config, now=start)
    transport = transport or make_transport(config)
    try:
        for _ in range(limit):
            claim = _claim_next(session, config, start)
            if claim is None:
                break
            error = _deliver(claim, transport, config)
            _record(session, config, claim, error, tick(), report)
            if isinstance(error, Unreachable):
                report.stopped = True  # the rest wait untouched for the next run
                break
    finally:
        transport.close()
    return report


@unit_of_work
def _claim_next(session: Session, config: Mapping[str, Any], now: datetime) -> Claim | None:
    claimed = locks.skip_locked(
        session,
        locks.Kind.LEAF,
        (
            select(OutboxMessage)
            .where(OutboxMessage.state == OutboxState.PENDING, OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(1)
        ),
    )
    message = claimed[0] if claimed else None
    if message is None:
        session.commit()
        return None
    move(message, OutboxState.SENDING)
    message.attempts += 1
    message.claimed_at = now
    message.message_id = message.message_id or message_id_for(
        message.dedupe_key, config["MAIL_DEFAULT_SENDER"]
    )
    claim = Claim(
        message.id,
        message.attempts,
        now,
        message.dedupe_key,
        message.template,
        message.to_address,
        message.subject,
        dict(message.context),
        message.message_id,
    )
    session.commit()  # the claim is durable before the mail server hears of it
    return claim


def _deliver(claim: Claim, transport: Transport, config: Mapping[str, Any]) -> Exception | None:
    """Render and hand over one email; the error, if any, is returned to be recorded."""
    try:
        expires_at = claim.context.get("expires_at")
        if expires_at and datetime.fromisoformat(expires_at) <= claim.claimed_at:
            raise Expired(f"expired at {expires_at} before it could be sent")
        transport.send(build_email(claim, config), claim)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the message
        return exc
    return None


@unit_of_work
def _record(
    session: Session,
    config: Mapping[str, Any],
    claim: Claim,
    error: Exception | None,
    now: datetime,
    report: SendReport,
) -> None:
    message = locks.lock_leaf(session, OutboxMessage, claim.id)
    ours = (
        message.state is OutboxState.SENDING
        and message.attempts == claim.attempts
        and message.claimed_at == claim.claimed_at
    )
    if error is None:
        if ours or message.state in (OutboxState.PENDING, OutboxState.FAILED):
            if not ours:
                log.warning("email %s was sent after its sending timeout", claim.id)
            _mark_sent(message, now)
            report.sent += 1
        else:
            log.warning("email %s was sent, but was claimed again meanwhile", claim.id)
    elif not ours:
        log.warning("email %s failed after its claim ended: %s", claim.id, describe(error))
    elif isinstance(error, Expired) or is_permanent(error):
        move(message, OutboxState.FAILED)
        message.last_error = describe(error)
        report.failed += 1
    elif message.attempts >= config["MAIL_MAX_ATTEMPTS"]:
        move(message, OutboxState.FAILED)
        message.last_error = f"gave up after {message.attempts} attempts: {describe(error)}"
        report.failed += 1
    else:
        move(message, OutboxState.PENDING)
        message.last_error = describe(error)
        wait = BACKOFF_MINUTES[min(message.attempts, len(BACKOFF_MINUTES)) - 1]
        message.next_attempt_at = now + timedelta(minutes=wait)
        report.retrying += 1
    session.commit()
    log.info(
        "email %s (%s) to %s: %s", claim.id, claim.dedupe_key, claim.to_address, message.state.value
    )


def _mark_sent(message: OutboxMessage, now: datetime) -> None:
    move(message, OutboxState.SENT)
    message.sent_at = now
    if not (message.last_error or "").startswith(INTERRUPTED):  # keep why it went twice
        message.last_error = None
    secrets = SECRET_FIELDS.get(message.template, ())
    if secrets:
        message.context = {k: (ERASED if k in secrets else v) for k, v in message.context.items()}


@unit_of_work
def retry_interrupted(
    session: Session, config: Mapping[str, Any], *, now: datetime | None = None
) -> int:
    """Send again every message left ``sending`` longer than the sending timeout (its sender
    died mid-send): back to ``pending``, due now, or ``failed`` when it has had its attempts.
    Returns how many."""
    now = clock.now(now)
    cutoff = now - timedelta(minutes=config["MAIL_SENDING_TIMEOUT_MINUTES"])
    stuck = locks.skip_locked(
        session,
        locks.Kind.LEAF,
        (
            select(OutboxMessage)
            .where(OutboxMessage.state == OutboxState.SENDING, OutboxMessage.claimed_at <= cutoff)
            .order_by(OutboxMessage.id)
        ),
    )
    for message in stuck:
        message.last_error = f"{INTERRUPTED}: {message.message_id}"
        if message.attempts >= config["MAIL_MAX_ATTEMPTS"]:
            move(message, OutboxState.FAILED)
        else:
            move(message, OutboxState.PENDING)
            message.next_attempt_at = now
        log.warning("email %s: %s", message.id, message.last_error)
    session.commit()
    return len(stuck)


# ---------------------------------------------------------------- the owner's handles


@unit_of_work
def retry_message(
    session: Session, message_id: int, *, now: datetime | None = None
) -> OutboxMessage:
    """Send a failed (or waiting) message again at the next run, with a fresh set of attempts.
    Refuses a sent message and one being sent right now."""
    message = locks.lock_leaf(session, OutboxMessage, message_id)
    if message is None:
        session.rollback()
        raise NotFound(f"No email {message_id}.")
    if message.state is OutboxState.SENDING:
        session.rollback()
        raise OutboxError(
            f"Email {message_id} is being sent right now; if its sender died, it "
            "becomes failed after the sending timeout and can be retried then."
        )
    if message.state is not OutboxState.PENDING:
        move(message, OutboxState.PENDING)  # refuses a sent one
    message.attempts = 0
    message.next_attempt_at = clock.now(now)
    session.commit()
    return message


def list_messages(
    session: Session,
    *,
    order_id: int | None = None,
    state: OutboxState | str | None = None,
    limit: int = 100,
) -> list[OutboxMessage]:
    """The newest messages first, optionally one order's or in one state."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if order_id is not None:
        query = query.where(OutboxMessage.order_id == order_id)
    if state is not None:
        query = query.where(OutboxMessage.state == OutboxState(state))
    return list(session.scalars(query))


# ---------------------------------------------------------------- after commit


def send_all_due(
    session: Session, config: Mapping[str, Any], *, now: datetime | None = None, batch: int = 50
) -> SendReport:
    """``send_pending`` in batches until nothing is due or the server is unreachable."""
    total = SendReport()
    while True:
        report = send_pending(session, config, now=now, limit=batch)
        for field in ("sent", "retrying", "failed", "interrupted"):
            setattr(total, field, getattr(total, field) + getattr(report, field))
        total.stopped = report.stopped
        if report.stopped or report.attempted < batch:
            return total
