"""The payment provider protocol: five verbs, provider-neutral results.

Every adapter (testpay, paypal, stripe, razorpay) implements :class:`PaymentProvider` and returns
these dataclasses, never raw SDK objects. Adapters make network calls; callers must never hold a
database row lock while calling them.

Amounts are integer minor units with an ISO 4217 currency code.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from app.models.payments import CAPTURED_STATES, PaymentStatus

__all__ = ["CAPTURED_STATES", "PaymentStatus"]  # the statuses are the shop's; adapters use them


def lowercase_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names compared case-insensitively (a missing header is then a plain ``.get``)."""
    return {str(k).lower(): v for k, v in headers.items()}


def as_mapping(value: Any) -> Mapping[str, Any]:
    """A nested field of a provider's JSON answer, or an empty mapping when it is absent."""
    return value if isinstance(value, Mapping) else {}


def retryable_status(status: int) -> bool:
    """HTTP answers worth trying again later: timeouts, rate limits, server errors."""
    return status in (408, 429) or status >= 500


class ProviderError(Exception):
    """The provider refused or could not be reached. ``retryable`` says whether trying the same
    call again later may succeed (network errors, 5xx, rate limits)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class InvalidSignature(Exception):
    """A webhook (or a return) whose signature is missing, forged, stale or malformed."""


class MalformedWebhook(InvalidSignature):
    """A webhook whose fields cannot be ours (an id, reference, currency or amount that no
    payment of ours could have), whatever its signature says."""


@dataclass(frozen=True)
class ChargeBreakdown:
    """How a charge's amount is made up, as the shopper confirmed it (the checkout's price
    snapshot): ``amount = items − discount + shipping``, plus ``tax`` when prices exclude it.
    ``items``: the lines at their prices as entered; ``shipping``: as entered (tax included
    when prices include it); ``tax``: lines' and shipping's tax, included in items and
    shipping when ``tax_included``, added on top otherwise."""

    items_cents: int
    discount_cents: int = 0
    shipping_cents: int = 0
    tax_cents: int = 0
    tax_included: bool = False

    @property
    def total_cents(self) -> int:
        total = self.items_cents - self.discount_cents + self.shipping_cents
        return total if self.tax_included else total + self.tax_cents

    def as_metadata(self) -> dict[str, str]:
        """The breakdown as a provider's metadata or notes (strings, minor units)."""
        return {
            "subtotal_cents": str(self.items_cents),
            "discount_cents": str(self.discount_cents),
            "shipping_cents": str(self.shipping_cents),
            "tax_cents": str(self.tax_cents),
            "tax_included": "true" if self.tax_included else "false",
        }


@dataclass(frozen=True)
class PaymentRequest:
    """What we ask a provider to collect for one checkout. ``breakdown`` (optional) is how the
    amount is made up; adapters pass it on where the provider takes one, and only when it
    sums exactly to ``amount_cents`` (:meth:`exact_breakdown`)."""

    checkout_ref: str  # our public checkout reference, sent to the provider as metadata
    amount_cents: int
    currency: str
    description: str
    return_url: str  # where the provider sends the shopper after approving
    cancel_url: str  # where the provider sends the shopper after cancelling
    expires_at: datetime  # the stock hold's deadline: the provider should not accept payment after
    idempotency_key: str
    customer_email: str | None = None
    breakdown: ChargeBreakdown | None = None

    def exact_breakdown(self) -> ChargeBreakdown | None:
        """The breakdown when it makes exactly the amount (else None: a provider that checks
        the sum would refuse the payment, and the amount is what counts)."""
        parts = self.breakdown
        if parts is None or parts.total_cents != self.amount_cents:
            return None
        if min(parts.items_cents, parts.discount_cents, parts.shipping_cents, parts.tax_cents) < 0:
            return None
        return parts


@dataclass(frozen=True)
class CreatedPayment:
    provider_ref: str  # the provider's id of the payment (PayPal order, Stripe session, ...)
    approval_url: str  # where to send the shopper
    status: PaymentStatus = PaymentStatus.PENDING
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentState:
    provider_ref: str
    status: PaymentStatus
    amount_cents: int  # amount the payment is for
    currency: str
    captured_cents: int = 0  # amount actually captured (0 unless captured)
    refunded_cents: int = 0
    capture_ref: str | None = None  # the provider's id of the capture (needed to refund)
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundResult:
    provider_refund_id: str
    amount_cents: int
    currency: str
    status: str  # "succeeded" | "pending" | "failed"
    raw: Mapping[str, Any] = field(default_factory=dict)


class WebhookKind(enum.StrEnum):
    CAPTURED = "payment.captured"
    AUTHORIZED = "payment.authorized"
    FAILED = "payment.failed"
    REFUNDED = "payment.refunded"
    OTHER = "other"


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook, reduced to what we act on."""

    event_id: str
    kind: WebhookKind
    provider_ref: str | None
    amount_cents: int | None
    currency: str | None
    raw_type: str
    payload: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class PaymentProvider(Protocol):
    name: str

    def create(self, request: PaymentRequest) -> CreatedPayment:
        """Create a payment and return where to send the shopper to approve it."""

    def capture(self, provider_ref: str, idempotency_key: str) -> PaymentState:
        """Capture an approved payment. Idempotent: capturing a captured payment returns its
        state. Raises ProviderError when it cannot be captured."""

    def fetch(self, provider_ref: str) -> PaymentState:
        """Ask the provider for the payment's current state (returns, reconciliation)."""

    def refund(self, state: PaymentState, amount_cents: int, idempotency_key: str) -> RefundResult:
        """Refund part or all of a captured payment. Idempotent per key."""

    def void(self, provider_ref: str) -> None:
        """Cancel a payment that has not been captured (best effort; never raises for a
        payment that is already void or expired)."""

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify the webhook's signature from the raw body and parse it, or raise
        InvalidSignature."""

    def verify_return(self, provider_ref: str, params: Mapping[str, str]) -> PaymentState:
        """The shopper came back from the provider. Never trust ``params``: ask the provider
        (``fetch``) or verify the provider's signature over them."""
