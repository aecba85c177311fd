"""Webhook events for the owner: every stored event with its state and error (filtered by
state and provider, paged), and replaying one through ``services.payments.authorize``.

Replaying is idempotent: ``process_webhook`` leaves a processed (or ignored) event alone and
completing a payment happens once, however often it is asked. The provider may be called
during a replay, so it runs in ``process_webhook``'s own transactions; its audit row (state
before and after) is written in one more, once the replay has its answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import begin_write
from app.models import WebhookEvent, WebhookState
from app.providers.base import PaymentProvider
from app.services import audit
from app.services.admin.paging import paged
from app.services.catalog.browse import Page
from app.services.errors import DomainError, NotFound
from app.services.orders.order_book import OrderLinks
from app.services.payments import authorize
from app.services.transactions import unit_of_work

STATES = tuple(s.value for s in WebhookState)
DONE = (WebhookState.PROCESSED, WebhookState.IGNORED)


@dataclass(frozen=True)
class WebhookFilter:
    state: WebhookState | None = None
    provider: str = ""


def parse_filter(state: str | None, provider: str | None) -> WebhookFilter:
    if state and state not in STATES:
        raise DomainError(f"There is no webhook state {state!r}.")
    return WebhookFilter(WebhookState(state) if state else None, (provider or "").strip()[:32])


def providers_seen(session: Session) -> list[str]:
    return list(session.scalars(select(WebhookEvent.provider).distinct().order_by("provider")))


def list_events(session: Session, filters: WebhookFilter, page: int = 1) -> Page[WebhookEvent]:
    stmt = select(WebhookEvent).order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc())
    if filters.state is not None:
        stmt = stmt.where(WebhookEvent.state == filters.state)
    if filters.provider:
        stmt = stmt.where(WebhookEvent.provider == filters.provider)
    return paged(session, stmt, page)


def replay(
    session: Session,
    providers: Callable[[str], PaymentProvider],
    webhook_id: int,
    *,
    actor: str,
    links: OrderLinks,
) -> tuple[bool, WebhookEvent]:
    """Process a stored event again; returns (whether it was replayed, the event). An event
    already processed or ignored is left alone (nothing to replay)."""
    row = session.get(WebhookEvent, webhook_id)
    if row is None:
        raise NotFound("There is no such webhook event.")
    before = row.state
    if before in DONE:
        session.rollback()
        return False, row
    provider = providers(row.provider)
    row = authorize.process_webhook(session, webhook_id, provider, links=links)
    _audit_replay(session, webhook_id, actor, before.value, row.state.value, row.error)
    return True, row


@unit_of_work
def _audit_replay(
    session: Session, webhook_id: int, actor: str, before: str, after: str, error: str | None
) -> None:
    begin_write(session)
    audit.record(
        session,
        "webhook.replayed",
        actor=actor,
        subject_type="webhook_event",
        subject_id=webhook_id,
        before=before,
        after=after,
        error=error,
    )
    session.commit()
