"""Payments: starting one with a provider (phase payment_authorization), webhooks in, and
reconciliation of payments that never reported back.

Webhooks: verify, store, dedupe, process. ``receive_webhook`` verifies the signature from the
raw body (a bad one raises and stores nothing) and stores the event under its unique (provider,
event id); a duplicate is acknowledged and not processed again. ``process_webhook`` asks the
provider for the payment's truth and completes (``services.completion``), so events out of order
are harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import clock, metrics
from app.db import begin_write
from app.models import Checkout, CheckoutState, Payment, PaymentStatus, WebhookEvent, WebhookState
from app.providers import provider_label
from app.providers.base import (
    ChargeBreakdown,
    CreatedPayment,
    InvalidSignature,
    MalformedWebhook,
    PaymentProvider,
    PaymentRequest,
    ProviderError,
)
from app.providers.base import WebhookEvent as WebhookEventData
from app.services import locks
from app.services.checkout.pipeline import CheckoutError, Settings, expire_if_due
from app.services.checkout.review import price_drift
from app.services.checkout.states import (
    Phase,
    fail_checkout,
    lock_checkout,
    record_event,
    transition,
)
from app.services.orders import completion
from app.services.orders.order_book import OrderLinks
from app.services.transactions import unit_of_work


class PriceDriftError(CheckoutError):
    """Prices moved beyond the tolerance since the snapshot: the shopper must confirm."""

    def __init__(self, drift) -> None:
        super().__init__(
            Phase.PRICE_LOCK,
            "Prices changed since you started checking out. "
            "Please review and confirm the new total.",
        )
        self.drift = drift


@dataclass(frozen=True)
class Urls:
    return_url: str
    cancel_url: str


def authorize_payment(
    session: Session,
    checkout_id: int,
    provider: PaymentProvider,
    urls: Urls,
    *,
    settings: Settings = Settings(),
    now: datetime | None = None,
) -> str:
    """Phase payment_authorization: create the payment with the provider for the snapshot total
    the shopper confirmed, and return the provider's approval URL. No lock is held during the
    provider call. A provider failure undoes the earlier phases (the hold is released).

    A double-clicked Pay is one payment: a click that finds a payment still waiting for the
    shopper's approval (same provider, same amount) is sent to its approval page, and two
    clicks at the same instant ask the provider with the same idempotency key and get the
    same payment back."""
    now = clock.now(now)
    expire_if_due(session, session.get(Checkout, checkout_id), now)
    request = _prepare_payment(session, checkout_id, provider, urls, settings, now)
    if isinstance(request, str):
        return request
    try:
        created = provider.create(request)
    except ProviderError as exc:
        public_id = _payment_failed(session, checkout_id, provider.name, exc.message, now)
        raise CheckoutError(
            Phase.PAYMENT_AUTHORIZATION,
            f"We could not reach {provider_label(provider.name)}. Nothing was charged and your "
            "cart is as it was; please start checkout again.",
            status_code=502,
            checkout_id=public_id,
        ) from exc
    return _record_payment(session, checkout_id, provider.name, request, created, now)


# A payment still waiting for the shopper is offered again for this long (a second click on
# Pay, or a shopper back from the provider's page without paying); later, a new one is made.
REUSE_WAITING_PAYMENT_FOR = timedelta(minutes=10)


@unit_of_work
def _prepare_payment(
    session: Session,
    checkout_id: int,
    provider: PaymentProvider,
    urls: Urls,
    settings: Settings,
    now: datetime,
) -> PaymentRequest | str:
    """Check the checkout can be paid and its prices stand (under its lock); the request to
    send, or the approval URL of the payment already waiting for the shopper. The attempt
    number in the idempotency key counts the payments recorded so far."""
    checkout = lock_checkout(session, checkout_id)
    _check_payable(session, checkout)
    _check_prices_stand(session, checkout, settings)
    waiting = _waiting_payment(session, checkout, provider, now)
    if waiting is not None and waiting.approval_url:
        session.commit()
        return waiting.approval_url
    request = _payment_request(session, checkout, provider, urls)
    session.commit()
    return request


def _check_payable(session: Session, checkout: Checkout) -> None:
    """Refuse (rolling back) a checkout whose hold expired or that is past paying."""
    if checkout.state is CheckoutState.EXPIRED:
        session.rollback()
        raise CheckoutError(
            Phase.PAYMENT_AUTHORIZATION,
            "Your hold expired before payment.",
            checkout_id=checkout.public_id,
        )
    if checkout.state not in (CheckoutState.RESERVED, CheckoutState.AWAITING_PAYMENT):
        session.rollback()
        raise CheckoutError(
            Phase.PAYMENT_AUTHORIZATION,
            f"This checkout is {checkout.state.value.replace('_', ' ')}.",
            checkout_id=checkout.public_id,
        )


def _check_prices_stand(session: Session, checkout: Checkout, settings: Settings) -> None:
    """Phase price_lock: prices that moved beyond the tolerance are recorded and committed,
    then refused (``PriceDriftError``); a drift within it is recorded and the snapshot stands."""
    drift = price_drift(session, checkout)
    if drift.needs_confirmation(settings.drift_tolerance_percent):
        record_event(
            session,
            checkout,
            "price_drift",
            "beyond tolerance; shopper must confirm",
            phase=Phase.PRICE_LOCK,
            snapshot_total_cents=drift.snapshot_total_cents,
            current_total_cents=drift.current_total_cents,
            percent=round(drift.percent, 3),
        )
        session.commit()
        raise PriceDriftError(drift)
    if drift.changed:
        record_event(
            session,
            checkout,
            "price_drift",
            "within tolerance; the snapshot stands",
            phase=Phase.PRICE_LOCK,
            snapshot_total_cents=drift.snapshot_total_cents,
            current_total_cents=drift.current_total_cents,
            percent=round(drift.percent, 3),
        )


def _waiting_payment(
    session: Session, checkout: Checkout, provider: PaymentProvider, now: datetime
) -> Payment | None:
    """The newest recent payment of this checkout still waiting for the shopper's approval
    (same provider, same amount)."""
    return session.scalar(
        select(Payment)
        .where(
            Payment.checkout_id == checkout.id,
            Payment.provider == provider.name,
            Payment.status == PaymentStatus.PENDING,
            Payment.amount_cents == checkout.total_cents,
            Payment.created_at > now - REUSE_WAITING_PAYMENT_FOR,
        )
        .order_by(Payment.id.desc())
        .limit(1)
    )


def _payment_request(
    session: Session, checkout: Checkout, provider: PaymentProvider, urls: Urls
) -> PaymentRequest:
    """Note the attempt on the checkout and build the request for the provider; its
    idempotency key numbers the attempt after the payments recorded so far."""
    attempt = (
        session.scalar(select(func.count(Payment.id)).where(Payment.checkout_id == checkout.id))
        or 0
    ) + 1
    checkout.payment_provider = provider.name
    record_event(
        session,
        checkout,
        "phase",
        f"creating a payment with {provider.name}",
        phase=Phase.PAYMENT_AUTHORIZATION,
        attempt=attempt,
        amount_cents=checkout.total_cents,
    )
    return PaymentRequest(
        checkout_ref=checkout.public_id,
        amount_cents=checkout.total_cents,
        currency=checkout.currency,
        description=f"Order from checkout {checkout.public_id}",
        return_url=urls.return_url,
        cancel_url=urls.cancel_url,
        expires_at=checkout.expires_at,
        idempotency_key=f"{checkout.public_id}-{attempt}",
        customer_email=checkout.email,
        breakdown=ChargeBreakdown(
            items_cents=checkout.subtotal_cents,
            discount_cents=checkout.discount_cents,
            shipping_cents=checkout.shipping_cents,
            tax_cents=checkout.tax_cents,
            tax_included=checkout.prices_include_tax,
        ),
    )


@unit_of_work
def _payment_failed(
    session: Session, checkout_id: int, provider: str, message: str, now: datetime
) -> str:
    checkout = lock_checkout(session, checkout_id)
    fail_checkout(session, checkout, Phase.PAYMENT_AUTHORIZATION, f"{provider}: {message}", now=now)
    session.commit()
    return checkout.public_id


@unit_of_work
def _record_payment(
    session: Session,
    checkout_id: int,
    provider: str,
    request: PaymentRequest,
    created: CreatedPayment,
    now: datetime,
) -> str:
    """Record the provider's payment (once: a second click with the same key finds it)."""
    checkout = lock_checkout(session, checkout_id)
    payment = completion.find_payment(session, provider, created.provider_ref)
    if payment is not None:
        session.commit()
        return payment.approval_url or created.approval_url
    session.add(
        Payment(
            checkout_id=checkout.id,
            provider=provider,
            provider_ref=created.provider_ref,
            status=created.status,
            amount_cents=request.amount_cents,
            currency=request.currency,
            approval_url=created.approval_url,
            created_at=now,
            updated_at=now,
        )
    )
    if checkout.state in (CheckoutState.RESERVED, CheckoutState.AWAITING_PAYMENT):
        transition(
            session,
            checkout,
            CheckoutState.AWAITING_PAYMENT,
            Phase.PAYMENT_AUTHORIZATION,
            f"payment created with {provider}",
            now=now,
            provider_ref=created.provider_ref,
        )
    session.commit()
    return created.approval_url


# ---------------------------------------------------------------- webhooks


def receive_webhook(
    session: Session, provider: PaymentProvider, headers, body: bytes, now: datetime | None = None
) -> tuple[WebhookEvent, bool]:
    """Verify (raises InvalidSignature) and store a webhook. Returns the stored event and
    whether it is new (False: a duplicate, to acknowledge and ignore)."""
    try:
        event = provider.parse_webhook(headers, body)
        _check_fits(event)
    except InvalidSignature as exc:  # MalformedWebhook is one too
        malformed = isinstance(exc, MalformedWebhook)
        metrics.webhook(provider.name, "malformed" if malformed else "invalid_signature")
        raise
    except ProviderError:
        metrics.webhook(provider.name, "unverified")
        raise
    stored, new = _store_webhook(session, provider.name, event, clock.now(now))
    metrics.webhook(provider.name, "received" if new else "duplicate")
    return stored, new


MAX_AMOUNT_CENTS = 2**31 - 1


def _check_fits(event: WebhookEventData) -> None:
    """Refuse (400) a verified event whose fields no payment of ours could have, before it
    reaches a column too small for it."""

    def text(value, limit: int) -> bool:
        return isinstance(value, str) and 0 < len(value) <= limit and "\x00" not in value

    problems = []
    if not text(event.event_id, 200):
        problems.append("event id")
    if event.provider_ref is not None and not text(event.provider_ref, 120):
        problems.append("payment reference")
    if event.currency is not None and not (
        text(event.currency, 3)
        and len(event.currency) == 3
        and event.currency.isascii()
        and event.currency.isalpha()
    ):
        problems.append("currency")
    if event.amount_cents is not None and not (
        isinstance(event.amount_cents, int) and 0 <= event.amount_cents <= MAX_AMOUNT_CENTS
    ):
        problems.append("amount")
    if problems:
        raise MalformedWebhook(f"malformed webhook: {', '.join(problems)} out of range")


@unit_of_work
def _store_webhook(
    session: Session, provider: str, event, now: datetime
) -> tuple[WebhookEvent, bool]:
    begin_write(session)
    row = WebhookEvent(
        provider=provider,
        event_id=event.event_id,
        kind=event.kind.value,
        provider_ref=event.provider_ref,
        amount_cents=event.amount_cents,
        currency=event.currency,
        payload=dict(event.payload),
        state=WebhookState.RECEIVED,
        received_at=now,
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = session.scalar(
            select(WebhookEvent).where(
                WebhookEvent.provider == provider, WebhookEvent.event_id == event.event_id
            )
        )
        return existing, False
    return row, True


def process_webhook(
    session: Session,
    webhook_id: int,
    provider: PaymentProvider,
    *,
    links: OrderLinks,
    now: datetime | None = None,
) -> WebhookEvent:
    """Act on a stored webhook once. Safe to run twice: a processed event is left alone."""
    now = clock.now(now)
    row = session.get(WebhookEvent, webhook_id)
    if row is None or row.state in (WebhookState.PROCESSED, WebhookState.IGNORED):
        return row
    ref = row.provider_ref
    session.rollback()
    try:
        if ref is None or completion.find_payment(session, provider.name, ref) is None:
            state, error = WebhookState.IGNORED, "no payment of ours with that reference"
        else:
            result = completion.complete_payment(
                session, provider, ref, source="webhook", links=links, now=now
            )
            state, error = WebhookState.PROCESSED, None
            if result.outcome == "in_progress":
                state, error = WebhookState.RECEIVED, "completion in progress elsewhere"
    except ProviderError as exc:
        session.rollback()
        state, error = WebhookState.FAILED, exc.message
    _record_processing(session, webhook_id, state, error, now)
    metrics.webhook(provider.name, WEBHOOK_RESULTS.get(state, state.value))
    return session.get(WebhookEvent, webhook_id)


# What processing a webhook came to, as ``metrics.webhook`` counts it.
WEBHOOK_RESULTS = {
    WebhookState.PROCESSED: "processed",
    WebhookState.IGNORED: "ignored",
    WebhookState.FAILED: "failed",
    WebhookState.RECEIVED: "retry",
}


@unit_of_work
def _record_processing(
    session: Session, webhook_id: int, state: WebhookState, error: str | None, now: datetime
) -> None:
    row = locks.lock_leaf(session, WebhookEvent, webhook_id)
    row.attempts += 1
    row.error = error
    if row.state is not WebhookState.PROCESSED:
        row.state = state
    if state in (WebhookState.PROCESSED, WebhookState.IGNORED):
        row.processed_at = now
    session.commit()
