"""Razorpay adapter: the Orders API through the official ``razorpay`` SDK.

Promises:
- ``provider_ref`` is the Razorpay order id; ``capture_ref`` is the id of the order's payment
  (what captures and refunds are made against).
- Razorpay has no hosted approval page in the Orders flow: the shop renders Razorpay Checkout
  (JavaScript) itself, so ``approval_url`` is a path on the shop, ``/pay/razorpay/<order_id>``.
- The shopper's return is trusted only if ``razorpay_signature`` is HMAC-SHA256 of
  ``order_id|payment_id`` under the key secret; the state is then read from Razorpay.
- Webhooks are trusted only if ``X-Razorpay-Signature`` is HMAC-SHA256 of the raw body under
  the webhook secret.
- ``create`` and ``refund`` are idempotent per key (Razorpay has no idempotency header, so the
  key is stored in ``notes`` and looked up before creating).
- Every SDK failure leaves as :class:`ProviderError` (retryable for network errors, 408, 429
  and 5xx). ``import razorpay`` here is the PyPI package (imports are absolute).
- The order's ``amount`` is the total the shopper confirmed; how it is made up (subtotal,
  discount, shipping, tax in minor units, whether prices include tax) goes in its ``notes``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

import razorpay
import requests
from razorpay.errors import BadRequestError, GatewayError, ServerError

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
)

DEFAULT_BASE_URL = "https://api.razorpay.com"
APPROVAL_PATH = "/pay/razorpay/{order_id}"
TIMEOUT_SECONDS = 20

WEBHOOK_KINDS = {
    "payment.captured": WebhookKind.CAPTURED,
    "payment.authorized": WebhookKind.AUTHORIZED,
    "payment.failed": WebhookKind.FAILED,
    "refund.processed": WebhookKind.REFUNDED,
}
REFUND_STATUSES = {"processed": "succeeded", "pending": "pending"}
MONEY_TAKEN = {PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}


class _Unavailable(Exception):
    """Razorpay answered 408, 429 or 5xx."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class _Session(requests.Session):
    """The SDK's HTTP session, with a timeout on every call, and 408/429/5xx answers raised
    before the SDK reads them: the SDK folds every error into three classes and drops the
    status code, which is what says whether trying again can help."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", TIMEOUT_SECONDS)
        response = super().request(method, url, *args, **kwargs)
        if response.status_code in (408, 429) or response.status_code >= 500:
            raise _Unavailable(response.status_code)
        return response


class RazorpayProvider:
    """Razorpay Orders + Checkout."""

    name = "razorpay"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._key_id = str(settings.get("RAZORPAY_KEY_ID") or "")
        self._key_secret = str(settings.get("RAZORPAY_KEY_SECRET") or "")
        self._webhook_secret = str(settings.get("RAZORPAY_WEBHOOK_SECRET") or "")
        base_url = str(settings.get("RAZORPAY_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self._client = razorpay.Client(
            session=_Session(), auth=(self._key_id, self._key_secret), base_url=base_url
        )

    # ------------------------------------------------------------------ protocol

    def create(self, request: PaymentRequest) -> CreatedPayment:
        order = self._order_for_key(request.checkout_ref, request.idempotency_key)
        if order is None:
            data = {
                "amount": request.amount_cents,
                "currency": request.currency.upper(),
                "receipt": request.checkout_ref[:40],
                "notes": {
                    "checkout_ref": request.checkout_ref[:256],
                    "idempotency_key": request.idempotency_key[:256],
                    "description": request.description[:256],
                    **_breakdown_notes(request),
                },
            }
            order = self._call("create order", lambda: self._client.order.create(data))
        if not order.get("id"):
            raise ProviderError("Razorpay created an order without an id")
        return CreatedPayment(
            provider_ref=order["id"],
            approval_url=APPROVAL_PATH.format(order_id=order["id"]),
            raw=order,
        )

    def capture(self, provider_ref: str, idempotency_key: str) -> PaymentState:
        """Capture the order's authorized payment (Razorpay has no idempotency key for this;
        a payment captured already, e.g. by auto-capture, is simply reported)."""
        order, payments = self._load(provider_ref)
        state = _state(order, payments)
        if state.status in MONEY_TAKEN:
            return state
        payment = _chosen_payment(payments)
        if state.status is not PaymentStatus.AUTHORIZED or payment is None:
            raise ProviderError(f"Razorpay order {provider_ref} cannot be captured: {state.status}")
        try:
            self._call(
                "capture payment",
                lambda: self._client.payment.capture(
                    payment["id"], payment["amount"], {"currency": payment["currency"]}
                ),
            )
        except ProviderError as exc:
            if exc.retryable:
                raise
            if self.fetch(provider_ref).status not in MONEY_TAKEN:  # a concurrent capture won?
                raise
        return self.fetch(provider_ref)

    def fetch(self, provider_ref: str) -> PaymentState:
        return _state(*self._load(provider_ref))

    def refund(self, state: PaymentState, amount_cents: int, idempotency_key: str) -> RefundResult:
        if amount_cents <= 0:
            raise ValueError("a refund must be for a positive amount")
        payment_id = state.capture_ref or self.fetch(state.provider_ref).capture_ref
        if not payment_id:
            raise ProviderError(f"Razorpay order {state.provider_ref} has no payment to refund")
        refund = self._refund_for_key(payment_id, idempotency_key)
        if refund is None:
            data = {
                "amount": amount_cents,
                "receipt": idempotency_key[:40],
                "notes": {"idempotency_key": idempotency_key[:256]},
            }
            refund = self._call(
                "refund payment", lambda: self._client.payment.refund(payment_id, data)
            )
        return RefundResult(
            provider_refund_id=str(refund.get("id", "")),
            amount_cents=int(refund.get("amount", amount_cents)),
            currency=str(refund.get("currency") or state.currency).upper(),
            status=REFUND_STATUSES.get(str(refund.get("status")), "failed"),
            raw=refund,
        )

    def void(self, provider_ref: str) -> None:
        """Razorpay cannot cancel an order, and a payment left uncaptured is refunded to the
        shopper automatically at the end of the capture window. So this only refuses to
        "void" money already taken (the caller must refund instead)."""
        state = self.fetch(provider_ref)
        if state.status in MONEY_TAKEN:
            raise ProviderError(
                f"Razorpay order {provider_ref} is already captured; refund it instead"
            )

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        lowered = lowercase_headers(headers)
        signature = lowered.get("x-razorpay-signature")
        if not signature:
            raise InvalidSignature("missing X-Razorpay-Signature header")
        if not self._webhook_secret:
            raise InvalidSignature("RAZORPAY_WEBHOOK_SECRET is not set; cannot verify webhooks")
        if not _signature_matches(self._webhook_secret, body, signature):
            raise InvalidSignature("Razorpay webhook signature does not match")
        try:
            event = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidSignature("webhook body is not JSON") from exc
        if not isinstance(event, dict):
            raise InvalidSignature("webhook body is not a JSON object")
        event_id = lowered.get("x-razorpay-event-id") or hashlib.sha256(body).hexdigest()
        return _webhook_event(event, str(event_id))

    def verify_return(self, provider_ref: str, params: Mapping[str, str]) -> PaymentState:
        """Checkout's handler posts ``razorpay_order_id``, ``razorpay_payment_id`` and
        ``razorpay_signature``; a valid signature for this order lets us read the state."""
        order_id = params.get("razorpay_order_id") or ""
        payment_id = params.get("razorpay_payment_id") or ""
        signature = params.get("razorpay_signature") or ""
        if not (order_id and payment_id and signature):
            raise InvalidSignature("the return lacks razorpay_order_id/payment_id/signature")
        if order_id != provider_ref:
            raise InvalidSignature("the return is for another Razorpay order")
        message = f"{order_id}|{payment_id}".encode()
        if not _signature_matches(self._key_secret, message, signature):
            raise InvalidSignature("Razorpay return signature does not match")
        return self.fetch(provider_ref)

    # ------------------------------------------------------------------ plumbing

    def _call(self, what: str, call: Callable[[], Any]) -> dict[str, Any]:
        if not self._key_id or not self._key_secret:
            raise ProviderError("RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET must be set")
        try:
            result = call()
        except _Unavailable as exc:
            raise ProviderError(f"Razorpay {what}: {exc}", retryable=True) from exc
        except requests.RequestException as exc:  # refused, timed out, or an answer not JSON
            raise ProviderError(f"Razorpay {what}: unreachable ({exc})", retryable=True) from exc
        except BadRequestError as exc:
            raise ProviderError(f"Razorpay {what}: refused ({exc})") from exc
        except (GatewayError, ServerError) as exc:
            raise ProviderError(f"Razorpay {what}: {exc}", retryable=True) from exc
        except Exception as exc:  # noqa: BLE001 - any other SDK failure must not leak out
            raise ProviderError(f"Razorpay {what} failed: {exc!r}") from exc
        if isinstance(result, str):  # the SDK answers 204 with the string "{}"
            result = json.loads(result)
        return result if isinstance(result, dict) else {}

    def _load(self, order_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        order = self._call("fetch order", lambda: self._client.order.fetch(order_id))
        found = self._call("fetch order payments", lambda: self._client.order.payments(order_id))
        return order, list(found.get("items") or [])

    def _order_for_key(self, checkout_ref: str, key: str) -> dict[str, Any] | None:
        found = self._call(
            "find order", lambda: self._client.order.all({"receipt": checkout_ref[:40]})
        )
        for order in found.get("items") or []:
            if (order.get("notes") or {}).get("idempotency_key") == key[:256]:
                return order
        return None

    def _refund_for_key(self, payment_id: str, key: str) -> dict[str, Any] | None:
        found = self._call(
            "list refunds", lambda: self._client.payment.fetch_multiple_refund(payment_id, {})
        )
        for refund in found.get("items") or []:
            if (refund.get("notes") or {}).get("idempotency_key") == key[:256]:
                return refund
        return None


def _signature_matches(secret: str, message: bytes, signature: str) -> bool:
    expected = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), str(signature).encode("utf-8"))


PAYMENT_PREFERENCE = ("refunded", "captured", "authorized", "created", "failed")


def _chosen_payment(payments: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The payment that decides the order's state: money taken beats money held beats an
    attempt in progress beats a failure (a shopper may fail once and then pay)."""
    for status in PAYMENT_PREFERENCE:
        for payment in payments:
            if payment.get("status") == status:
                return payment
    return None


def _state(order: Mapping[str, Any], payments: list[dict[str, Any]]) -> PaymentState:
    payment = _chosen_payment(payments)
    status, captured, refunded = PaymentStatus.PENDING, 0, 0
    if payment is not None:
        amount = int(payment.get("amount") or 0)
        refunded = int(payment.get("amount_refunded") or 0)
        payment_status = payment.get("status")
        if payment_status in ("captured", "refunded"):
            captured = amount
            status = PaymentStatus.CAPTURED
            if refunded:
                full = refunded >= amount
                status = PaymentStatus.REFUNDED if full else PaymentStatus.PARTIALLY_REFUNDED
        elif payment_status == "authorized":
            status = PaymentStatus.AUTHORIZED
        elif payment_status == "failed":
            status = PaymentStatus.FAILED
    return PaymentState(
        provider_ref=str(order.get("id", "")),
        status=status,
        amount_cents=int(order.get("amount") or 0),
        currency=str(order.get("currency") or "").upper(),
        captured_cents=captured,
        refunded_cents=refunded,
        capture_ref=str(payment["id"]) if payment and payment.get("id") else None,
        raw={"order": dict(order), "payments": payments},
    )


def _webhook_event(event: Mapping[str, Any], event_id: str) -> WebhookEvent:
    event_type = str(event.get("event", ""))
    payload = as_mapping(event.get("payload"))
    payment = as_mapping(as_mapping(payload.get("payment")).get("entity"))
    refund = as_mapping(as_mapping(payload.get("refund")).get("entity"))
    subject = refund if event_type.startswith("refund.") and refund else payment
    amount = subject.get("amount")
    currency = str(subject.get("currency") or payment.get("currency") or "").upper() or None
    order_id = payment.get("order_id") or as_mapping(
        as_mapping(payload.get("order")).get("entity")
    ).get("id")
    return WebhookEvent(
        event_id=event_id,
        kind=WEBHOOK_KINDS.get(event_type, WebhookKind.OTHER),
        provider_ref=str(order_id) if order_id else None,
        amount_cents=int(amount) if amount is not None else None,
        currency=currency,
        raw_type=event_type,
        payload=dict(event),
    )


def _breakdown_notes(request: PaymentRequest) -> dict[str, str]:
    """How the amount is made up, as order notes (Razorpay takes up to 15), when it adds up."""
    parts = request.exact_breakdown()
    return parts.as_metadata() if parts is not None else {}
