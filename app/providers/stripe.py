"""Stripe adapter: a hosted Checkout Session per payment, through the official ``stripe`` SDK.

Promises:
- ``provider_ref`` is the Checkout Session id; ``capture_ref`` is its PaymentIntent id (what
  refunds are made against). Checkout captures on payment by default, so a paid session reads
  as captured and :meth:`capture` then only confirms it; a manual-capture intent is captured.
- The session expires at the hold's deadline, clamped into Stripe's window of 30 minutes to
  24 hours from now: a hold shorter than 30 minutes leaves the session open after the hold ends,
  so the shop must be ready for a late payment (refund it or sell anyway).
- Every SDK failure leaves as :class:`ProviderError` (retryable for network errors, 408, 429
  and 5xx); webhooks are accepted only with a valid ``Stripe-Signature`` under 300 s old.
- Results are the provider-neutral dataclasses; ``raw`` holds Stripe's JSON as plain dicts.
- The session has one line item, the whole amount the shopper confirmed (Stripe re-pricing
  shipping, tax or a coupon could charge another amount); how it is made up (subtotal,
  discount, shipping, tax in minor units, and whether prices include tax) goes in the
  session's and the PaymentIntent's metadata, for the owner reading Stripe's dashboard.

``import stripe`` here is the PyPI package: imports are absolute, this module is
``app.providers.stripe``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe

from app import clock

from .base import (
    CreatedPayment,
    InvalidSignature,
    PaymentRequest,
    PaymentState,
    PaymentStatus,
    ProviderError,
    RefundResult,
    WebhookEvent,
    WebhookKind,
    as_mapping,
    lowercase_headers,
    retryable_status,
)

DEFAULT_API_BASE = "https://api.stripe.com"
TIMEOUT_SECONDS = 20
WEBHOOK_TOLERANCE_SECONDS = 300
# Stripe accepts expires_at between 30 minutes and 24 hours ahead; keep a minute of slack for
# clock skew and the request's own travel time.
MIN_SESSION_LIFETIME = timedelta(minutes=31)
MAX_SESSION_LIFETIME = timedelta(hours=23, minutes=59)

INTENT_STATUSES = {
    "succeeded": PaymentStatus.CAPTURED,
    "requires_capture": PaymentStatus.AUTHORIZED,
    "canceled": PaymentStatus.VOIDED,
    "processing": PaymentStatus.PENDING,
    "requires_action": PaymentStatus.PENDING,
    "requires_confirmation": PaymentStatus.PENDING,
    "requires_payment_method": PaymentStatus.PENDING,
}
REFUND_STATUSES = {"succeeded": "succeeded", "pending": "pending", "requires_action": "pending"}
MONEY_TAKEN = {PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
SESSION_EXPANSIONS = ["payment_intent", "payment_intent.latest_charge"]


def _utcnow() -> datetime:
    return clock.utcnow()


class StripeProvider:
    """Stripe Checkout. ``clock`` (tests) says what time it is when clamping expiry."""

    name = "stripe"

    def __init__(
        self, settings: Mapping[str, Any], *, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self._secret_key = str(settings.get("STRIPE_SECRET_KEY") or "")
        self._webhook_secret = str(settings.get("STRIPE_WEBHOOK_SECRET") or "")
        api_base = str(settings.get("STRIPE_API_BASE") or DEFAULT_API_BASE).rstrip("/")
        self._clock = clock
        self._client = stripe.StripeClient(
            self._secret_key or "unset",
            base_addresses={"api": api_base},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
        )

    # ------------------------------------------------------------------ protocol

    def create(self, request: PaymentRequest) -> CreatedPayment:
        metadata = {"checkout_ref": request.checkout_ref}
        parts = request.exact_breakdown()
        if parts is not None:  # how the one line's amount is made up, for the dashboard
            metadata.update(parts.as_metadata())
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": request.currency.lower(),
                        "unit_amount": request.amount_cents,
                        "product_data": {"name": request.description or request.checkout_ref},
                    },
                }
            ],
            "success_url": request.return_url,
            "cancel_url": request.cancel_url,
            "client_reference_id": request.checkout_ref[:200],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "expires_at": self._session_expiry(request.expires_at),
        }
        if request.customer_email:
            params["customer_email"] = request.customer_email
        session = self._call(
            "create checkout session",
            lambda: self._client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": request.idempotency_key}
            ),
        )
        if not session.get("id") or not session.get("url"):
            raise ProviderError("Stripe created a checkout session without an id or a url")
        return CreatedPayment(provider_ref=session["id"], approval_url=session["url"], raw=session)

    def capture(self, provider_ref: str, idempotency_key: str) -> PaymentState:
        state = self.fetch(provider_ref)
        if state.status in MONEY_TAKEN:
            return state
        if state.status is not PaymentStatus.AUTHORIZED or not state.capture_ref:
            raise ProviderError(f"Stripe session {provider_ref} cannot be captured: {state.status}")
        intent_id = state.capture_ref
        try:
            self._call(
                "capture payment intent",
                lambda: self._client.v1.payment_intents.capture(
                    intent_id, options={"idempotency_key": idempotency_key}
                ),
            )
        except ProviderError as exc:
            if exc.retryable:
                raise
            # A concurrent capture may have won: then the intent is no longer capturable.
            if self.fetch(provider_ref).status not in MONEY_TAKEN:
                raise
        return self.fetch(provider_ref)

    def fetch(self, provider_ref: str) -> PaymentState:
        session = self._call(
            "retrieve checkout session",
            lambda: self._client.v1.checkout.sessions.retrieve(
                provider_ref, params={"expand": SESSION_EXPANSIONS}
            ),
        )
        return _state(session)

    def refund(self, state: PaymentState, amount_cents: int, idempotency_key: str) -> RefundResult:
        if amount_cents <= 0:
            raise ValueError("a refund must be for a positive amount")
        intent_id = state.capture_ref or self.fetch(state.provider_ref).capture_ref
        if not intent_id:
            raise ProviderError(f"Stripe session {state.provider_ref} has no payment to refund")
        refund = self._call(
            "create refund",
            lambda: self._client.v1.refunds.create(
                params={
                    "payment_intent": intent_id,
                    "amount": amount_cents,
                    "metadata": {"checkout_session": state.provider_ref},
                },
                options={"idempotency_key": idempotency_key},
            ),
        )
        return RefundResult(
            provider_refund_id=str(refund.get("id", "")),
            amount_cents=int(refund.get("amount", amount_cents)),
            currency=str(refund.get("currency", state.currency)).upper(),
            status=REFUND_STATUSES.get(str(refund.get("status")), "failed"),
            raw=refund,
        )

    def void(self, provider_ref: str) -> None:
        """Expire an open session, or cancel an intent awaiting capture. Quiet when already
        expired or cancelled; refuses (ProviderError) when money was taken: refund instead."""
        state = self.fetch(provider_ref)
        session_status = state.raw.get("status")
        try:
            if session_status == "open":
                self._call(
                    "expire checkout session",
                    lambda: self._client.v1.checkout.sessions.expire(provider_ref),
                )
            elif state.status is PaymentStatus.AUTHORIZED and state.capture_ref:
                intent_id = state.capture_ref
                self._call(
                    "cancel payment intent",
                    lambda: self._client.v1.payment_intents.cancel(intent_id),
                )
        except ProviderError as exc:
            if exc.retryable:
                raise
            state = self.fetch(provider_ref)  # the shopper may have paid meanwhile
        if state.status in MONEY_TAKEN:
            raise ProviderError(f"Stripe session {provider_ref} is already paid; refund it instead")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        lowered = lowercase_headers(headers)
        signature = lowered.get("stripe-signature")
        if not signature:
            raise InvalidSignature("missing Stripe-Signature header")
        if not self._webhook_secret:
            raise InvalidSignature("STRIPE_WEBHOOK_SECRET is not set; cannot verify webhooks")
        try:  # checks the HMAC and that it was signed at most 300 s ago
            stripe.Webhook.construct_event(
                body, signature, self._webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as exc:
            raise InvalidSignature(f"Stripe signature rejected: {exc.user_message or exc}") from exc
        except (ValueError, AttributeError, TypeError) as exc:  # not UTF-8, JSON or an object
            raise InvalidSignature("webhook body is not a Stripe event") from exc
        # Parse the verified body ourselves: plain JSON exactly as Stripe sent it, no SDK object.
        event = json.loads(body)
        if not isinstance(event, dict) or not event.get("id"):
            raise InvalidSignature("webhook body is not a Stripe event")
        return self._webhook_event(event)

    def verify_return(self, provider_ref: str, params: Mapping[str, str]) -> PaymentState:
        """Stripe's return carries nothing signed: the session is read from Stripe."""
        return self.fetch(provider_ref)

    # ------------------------------------------------------------------ plumbing

    def _session_expiry(self, hold_expires_at: datetime) -> int:
        if hold_expires_at.tzinfo is None:
            hold_expires_at = hold_expires_at.replace(tzinfo=UTC)
        now = self._clock()
        earliest, latest = now + MIN_SESSION_LIFETIME, now + MAX_SESSION_LIFETIME
        return int(min(max(hold_expires_at, earliest), latest).timestamp())

    def _call(self, what: str, call: Callable[[], Any]) -> dict[str, Any]:
        """Run one SDK call and return its object as plain dicts."""
        if not self._secret_key:
            raise ProviderError("STRIPE_SECRET_KEY is not set")
        try:
            result = call()
        except stripe.APIConnectionError as exc:
            raise ProviderError(f"Stripe {what}: unreachable ({exc})", retryable=True) from exc
        except stripe.StripeError as exc:
            status = int(exc.http_status or 0)
            retryable = status == 0 or retryable_status(status)
            raise ProviderError(f"Stripe {what}: HTTP {status} {exc}", retryable=retryable) from exc
        except Exception as exc:  # noqa: BLE001 - any other SDK failure must not leak out
            raise ProviderError(f"Stripe {what} failed: {exc!r}") from exc
        if isinstance(result, stripe.StripeObject):
            return result.to_dict(for_json=True)  # Decimal fields become strings
        return dict(result)

    def _session_for_intent(self, intent_id: str | None) -> str | None:
        """The Checkout Session that owns a PaymentIntent (PaymentIntent and Charge events do
        not name it)."""
        if not intent_id:
            return None
        found = self._call(
            "list checkout sessions",
            lambda: self._client.v1.checkout.sessions.list(
                params={"payment_intent": intent_id, "limit": 1}
            ),
        )
        sessions = found.get("data") or []
        return str(sessions[0]["id"]) if sessions else None

    def _webhook_event(self, event: Mapping[str, Any]) -> WebhookEvent:
        event_type = str(event.get("type", ""))
        obj = as_mapping(as_mapping(event.get("data")).get("object"))
        kind, ref, amount = WebhookKind.OTHER, None, None
        if event_type.startswith("checkout.session."):
            ref, amount = obj.get("id"), obj.get("amount_total")
            paid = obj.get("payment_status") == "paid"
            if event_type in (
                "checkout.session.completed",
                "checkout.session.async_payment_succeeded",
            ):
                kind = WebhookKind.CAPTURED if paid else WebhookKind.OTHER
            elif event_type in (
                "checkout.session.expired",
                "checkout.session.async_payment_failed",
            ):
                kind = WebhookKind.FAILED
        elif event_type == "payment_intent.payment_failed":
            kind, amount = WebhookKind.FAILED, obj.get("amount")
            ref = self._session_for_intent(obj.get("id"))
        elif event_type == "charge.refunded":
            kind, amount = WebhookKind.REFUNDED, obj.get("amount_refunded")
            ref = self._session_for_intent(obj.get("payment_intent"))
        currency = str(obj.get("currency") or "").upper() or None
        return WebhookEvent(
            event_id=str(event.get("id", "")),
            kind=kind,
            provider_ref=str(ref) if ref else None,
            amount_cents=int(amount) if amount is not None else None,
            currency=currency,
            raw_type=event_type,
            payload=dict(event),
        )


def _state(session: Mapping[str, Any]) -> PaymentState:
    """A Checkout Session (with its PaymentIntent and latest Charge expanded) as a state."""
    intent = session.get("payment_intent")
    intent = intent if isinstance(intent, Mapping) else None
    charge = (intent or {}).get("latest_charge")
    charge = charge if isinstance(charge, Mapping) else {}
    status = PaymentStatus.PENDING
    if session.get("status") == "expired" and intent is None:
        status = PaymentStatus.VOIDED
    elif intent is not None:
        status = INTENT_STATUSES.get(str(intent.get("status")), PaymentStatus.PENDING)
        if status is PaymentStatus.PENDING and intent.get("last_payment_error"):
            status = PaymentStatus.FAILED
        if status is PaymentStatus.PENDING and session.get("status") == "expired":
            status = PaymentStatus.VOIDED
    captured = int(intent.get("amount_received") or 0) if status in MONEY_TAKEN and intent else 0
    refunded = int(charge.get("amount_refunded") or 0)
    if status is PaymentStatus.CAPTURED and refunded:
        full = refunded >= captured
        status = PaymentStatus.REFUNDED if full else PaymentStatus.PARTIALLY_REFUNDED
    return PaymentState(
        provider_ref=str(session.get("id", "")),
        status=status,
        amount_cents=int(session.get("amount_total") or 0),
        currency=str(session.get("currency") or "").upper(),
        captured_cents=captured,
        refunded_cents=refunded,
        capture_ref=str(intent["id"]) if intent and intent.get("id") else None,
        raw=dict(session),
    )
