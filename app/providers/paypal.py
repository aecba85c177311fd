"""PayPal adapter: Orders v2 through paypal-server-sdk, intent CAPTURE.

Promises:
- The shopper approving at PayPal takes no money; money moves only when :meth:`capture` runs,
  so the shop enforces its own hold deadline (PayPal orders cannot be given one).
- Every call goes to ``PAYPAL_BASE_URL`` (sandbox by default) and every failure leaves as
  :class:`ProviderError` (retryable for network errors, 408, 429 and 5xx).
- A webhook is accepted only when PayPal's ``verify-webhook-signature`` answers ``SUCCESS``.
- Results are the provider-neutral dataclasses; ``raw`` holds PayPal's JSON as plain dicts.

The purchase unit's amount carries its breakdown (``PaymentRequest.breakdown``) when it adds up
exactly, as PayPal requires: item_total + tax_total + shipping − discount = value. Prices that
exclude tax send the tax as tax_total. Prices that include it send item_total and shipping as
the shopper saw them, tax included, and tax_total 0: every figure PayPal shows is then one the
shopper confirmed on our review page and the sum is exact. (Taking the tax out of item_total
instead would need the discount, which is taken off tax-inclusive prices, re-split net of tax,
and those rounded parts need not add up to the total charged.)

The SDK client, the OAuth token (cached for the process) and the turning of SDK calls into
PayPal's JSON or a :class:`ProviderError` live in ``app/providers/paypal_http.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import requests
from paypalserversdk.models.amount_breakdown import AmountBreakdown
from paypalserversdk.models.amount_with_breakdown import AmountWithBreakdown
from paypalserversdk.models.checkout_payment_intent import CheckoutPaymentIntent
from paypalserversdk.models.money import Money
from paypalserversdk.models.order_request import OrderRequest
from paypalserversdk.models.payment_source import PaymentSource
from paypalserversdk.models.paypal_wallet import PaypalWallet
from paypalserversdk.models.paypal_wallet_experience_context import (
    PaypalWalletExperienceContext,
)
from paypalserversdk.models.purchase_unit_request import PurchaseUnitRequest
from paypalserversdk.models.refund_request import RefundRequest

from app.money import ZERO_DECIMAL

from .base import (
    ChargeBreakdown,
    CreatedPayment,
    InvalidSignature,
    PaymentRequest,
    PaymentState,
    PaymentStatus,
    ProviderError,
    RefundResult,
    WebhookEvent,
    WebhookKind,
    lowercase_headers,
)
from .paypal_http import TIMEOUT_SECONDS, PayPalAPIError, PayPalCredentials, call_once

DEFAULT_BASE_URL = "https://api-m.sandbox.paypal.com"

TRANSMISSION_HEADERS = (
    "paypal-transmission-id",
    "paypal-transmission-time",
    "paypal-transmission-sig",
    "paypal-cert-url",
    "paypal-auth-algo",
)
WEBHOOK_KINDS = {
    "PAYMENT.CAPTURE.COMPLETED": WebhookKind.CAPTURED,
    "CHECKOUT.ORDER.APPROVED": WebhookKind.AUTHORIZED,
    "PAYMENT.CAPTURE.DENIED": WebhookKind.FAILED,
    "PAYMENT.CAPTURE.DECLINED": WebhookKind.FAILED,
    "PAYMENT.CAPTURE.REFUNDED": WebhookKind.REFUNDED,
}
ORDER_STATUSES = {
    "CREATED": PaymentStatus.PENDING,
    "SAVED": PaymentStatus.PENDING,
    "PAYER_ACTION_REQUIRED": PaymentStatus.PENDING,
    "APPROVED": PaymentStatus.AUTHORIZED,
    "VOIDED": PaymentStatus.VOIDED,
}
CAPTURE_STATUSES = {
    "COMPLETED": PaymentStatus.CAPTURED,
    "PARTIALLY_REFUNDED": PaymentStatus.PARTIALLY_REFUNDED,
    "REFUNDED": PaymentStatus.REFUNDED,
    "PENDING": PaymentStatus.PENDING,
    "DECLINED": PaymentStatus.FAILED,
    "FAILED": PaymentStatus.FAILED,
}
REFUND_STATUSES = {"COMPLETED": "succeeded", "PENDING": "pending"}
MONEY_TAKEN = {PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}


class PayPalProvider:
    """PayPal Checkout (Orders v2). ``provider_ref`` is the PayPal order id; ``capture_ref`` is
    the id of the order's capture (what refunds are made against)."""

    name = "paypal"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._base_url = str(settings.get("PAYPAL_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self._credentials = PayPalCredentials(
            self._base_url,
            str(settings.get("PAYPAL_CLIENT_ID") or ""),
            str(settings.get("PAYPAL_CLIENT_SECRET") or ""),
        )
        self._webhook_id = str(settings.get("PAYPAL_WEBHOOK_ID") or "")
        self._client = self._credentials.sdk_client()

    # ------------------------------------------------------------------ protocol

    def create(self, request: PaymentRequest) -> CreatedPayment:
        currency = request.currency.upper()
        unit = PurchaseUnitRequest(
            amount=_amount(request, currency),
            reference_id=request.checkout_ref[:256],
            custom_id=request.checkout_ref[:127],
            description=(request.description or request.checkout_ref)[:127],
        )
        experience = PaypalWalletExperienceContext(
            return_url=request.return_url, cancel_url=request.cancel_url, user_action="PAY_NOW"
        )
        body = OrderRequest(
            intent=CheckoutPaymentIntent.CAPTURE,
            purchase_units=[unit],
            payment_source=PaymentSource(paypal=PaypalWallet(experience_context=experience)),
        )
        order = self._call(
            "create order",
            lambda: self._client.orders.create_order(
                {
                    "body": body,
                    "paypal_request_id": request.idempotency_key,
                    "prefer": "return=representation",
                }
            ),
        )
        approval_url = _link(order, "payer-action") or _link(order, "approve")
        if not order.get("id") or not approval_url:
            raise ProviderError("PayPal created an order without an id or an approval link")
        return CreatedPayment(provider_ref=order["id"], approval_url=approval_url, raw=order)

    def capture(self, provider_ref: str, idempotency_key: str) -> PaymentState:
        try:
            order = self._call(
                "capture order",
                lambda: self._client.orders.capture_order(
                    {
                        "id": provider_ref,
                        "paypal_request_id": idempotency_key,
                        "prefer": "return=representation",
                    }
                ),
            )
            state = _state(order)
            if state.provider_ref != provider_ref:  # never take another order's answer
                state = self.fetch(provider_ref)
        except PayPalAPIError as exc:
            if exc.status != 422:  # 422: e.g. ORDER_ALREADY_CAPTURED, ORDER_NOT_APPROVED
                raise
            state = self.fetch(provider_ref)
            if state.status not in MONEY_TAKEN:
                raise
        if state.status in (PaymentStatus.FAILED, PaymentStatus.VOIDED):
            raise ProviderError(f"PayPal did not capture order {provider_ref}: {state.status}")
        return state

    def fetch(self, provider_ref: str) -> PaymentState:
        order = self._call("get order", lambda: self._client.orders.get_order({"id": provider_ref}))
        return _state(order)

    def refund(self, state: PaymentState, amount_cents: int, idempotency_key: str) -> RefundResult:
        if amount_cents <= 0:
            raise ValueError("a refund must be for a positive amount")
        capture_ref = state.capture_ref or self.fetch(state.provider_ref).capture_ref
        if not capture_ref:
            raise ProviderError(f"PayPal order {state.provider_ref} has no capture to refund")
        currency = state.currency.upper()
        body = RefundRequest(
            amount=Money(currency_code=currency, value=_to_value(amount_cents, currency))
        )
        refund = self._call(
            "refund capture",
            lambda: self._client.payments.refund_captured_payment(
                {
                    "capture_id": capture_ref,
                    "paypal_request_id": idempotency_key,
                    "prefer": "return=representation",
                    "body": body,
                }
            ),
        )
        amount = refund.get("amount") or {}
        return RefundResult(
            provider_refund_id=str(refund.get("id", "")),
            amount_cents=_to_cents(amount.get("value"), currency) if amount else amount_cents,
            currency=currency,
            status=REFUND_STATUSES.get(str(refund.get("status")), "failed"),
            raw=refund,
        )

    def void(self, provider_ref: str) -> None:
        """Orders v2 has no cancel call: an order is never charged unless we capture it, and
        PayPal expires it on its own. So this only refuses to "void" money already taken (the
        caller must refund instead); an unknown (expired and purged) order is fine."""
        try:
            state = self.fetch(provider_ref)
        except PayPalAPIError as exc:
            if exc.status == 404:
                return
            raise
        if state.status in MONEY_TAKEN:
            raise ProviderError(
                f"PayPal order {provider_ref} is already captured; refund it instead"
            )

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        lowered = lowercase_headers(headers)
        missing = [h for h in TRANSMISSION_HEADERS if not lowered.get(h)]
        if missing:
            raise InvalidSignature("missing PayPal headers: " + ", ".join(missing))
        if not self._webhook_id:
            raise InvalidSignature("PAYPAL_WEBHOOK_ID is not set; cannot verify PayPal webhooks")
        event = _json_object(body)
        status = self._verification_status(lowered, body)
        if status != "SUCCESS":
            raise InvalidSignature(f"PayPal says the webhook signature is {status or 'invalid'}")
        return _webhook_event(event, body)

    def verify_return(self, provider_ref: str, params: Mapping[str, str]) -> PaymentState:
        """PayPal appends ``token`` (the order id) and ``PayerID``; neither proves anything, so
        the order is read from PayPal."""
        return self.fetch(provider_ref)

    # ------------------------------------------------------------------ plumbing

    def _call(self, what: str, call: Callable[[], Any]) -> dict[str, Any]:
        """Run one SDK call and return PayPal's JSON answer as a dict.

        A 401 means PayPal no longer accepts our cached token (revoked, or expired early): the
        call was not carried out, so it is made once more with a fresh token."""
        try:
            return call_once(what, call)
        except PayPalAPIError as exc:
            if exc.status != 401:
                raise
            self._credentials.forget_token()
            self._client = self._credentials.sdk_client()  # the SDK keeps its own copy of the token
            return call_once(what, call)

    def _verification_status(self, lowered: Mapping[str, str], body: bytes) -> str:
        """Ask PayPal whether the transmission headers sign this body for our webhook id.

        The event goes back byte for byte (spliced in, not re-serialised), since PayPal checks
        the signature against the exact text it sent."""
        fields = {
            "auth_algo": lowered["paypal-auth-algo"],
            "cert_url": lowered["paypal-cert-url"],
            "transmission_id": lowered["paypal-transmission-id"],
            "transmission_sig": lowered["paypal-transmission-sig"],
            "transmission_time": lowered["paypal-transmission-time"],
            "webhook_id": self._webhook_id,
        }
        payload = json.dumps(fields)[:-1] + ', "webhook_event": ' + body.decode("utf-8") + "}"
        response = self._post_verification(payload.encode("utf-8"))
        if response.status_code == 401:  # our cached token was refused: once more, fresh
            self._credentials.forget_token()
            response = self._post_verification(payload.encode("utf-8"))
        if response.status_code in (400, 422):
            return "MALFORMED"
        if response.status_code != 200:
            raise PayPalAPIError(
                f"PayPal verify webhook: HTTP {response.status_code}",
                status=response.status_code,
            )
        try:
            return str(response.json().get("verification_status", ""))
        except (ValueError, AttributeError) as exc:
            raise ProviderError("PayPal verify webhook: odd answer", retryable=True) from exc

    def _post_verification(self, payload: bytes) -> requests.Response:
        token, _ = self._credentials.access_token()
        try:
            return requests.post(
                f"{self._base_url}/v1/notifications/verify-webhook-signature",
                data=payload,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                timeout=TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            raise ProviderError(
                f"PayPal verify webhook: unreachable ({exc})", retryable=True
            ) from exc


# ---------------------------------------------------------------------- pure helpers


def _exponent(currency: str) -> int:
    return 0 if currency.upper() in ZERO_DECIMAL else 2


def _to_value(cents: int, currency: str) -> str:
    """Minor units to PayPal's decimal string: 1050 USD -> "10.50", 1050 JPY -> "1050"."""
    exponent = _exponent(currency)
    return f"{Decimal(cents).scaleb(-exponent):.{exponent}f}"


def _to_cents(value: Any, currency: str) -> int:
    if value in (None, ""):
        return 0
    return int(Decimal(str(value)).scaleb(_exponent(currency)))


def _amount(request: PaymentRequest, currency: str) -> AmountWithBreakdown:
    """The purchase unit's amount, with its breakdown when the request has one that adds up
    (see the module: with tax-inclusive prices the tax is inside item_total and shipping)."""
    value = _to_value(request.amount_cents, currency)
    parts = request.exact_breakdown()
    if parts is None:
        return AmountWithBreakdown(currency_code=currency, value=value)
    return AmountWithBreakdown(
        currency_code=currency, value=value, breakdown=_breakdown(parts, currency)
    )


def _breakdown(parts: ChargeBreakdown, currency: str) -> AmountBreakdown:
    def money(cents: int) -> Money:
        return Money(currency_code=currency, value=_to_value(cents, currency))

    return AmountBreakdown(
        item_total=money(parts.items_cents),
        shipping=money(parts.shipping_cents),
        tax_total=money(0 if parts.tax_included else parts.tax_cents),
        discount=money(parts.discount_cents),
    )


def _link(resource: Mapping[str, Any], rel: str) -> str | None:
    for link in resource.get("links") or []:
        if link.get("rel") == rel and link.get("href"):
            return str(link["href"])
    return None


def _state(order: Mapping[str, Any]) -> PaymentState:
    """A PayPal order (full representation) as a PaymentState."""
    unit = (order.get("purchase_units") or [{}])[0]
    amount = unit.get("amount") or {}
    currency = str(amount.get("currency_code", "")).upper()
    payments = unit.get("payments") or {}
    captures = payments.get("captures") or []
    capture = captures[-1] if captures else None
    if capture is not None:
        status = CAPTURE_STATUSES.get(str(capture.get("status")), PaymentStatus.PENDING)
    else:
        status = ORDER_STATUSES.get(str(order.get("status")), PaymentStatus.PENDING)
    refunded = sum(
        _to_cents((r.get("amount") or {}).get("value"), currency)
        for r in payments.get("refunds") or []
        if r.get("status") == "COMPLETED"
    )
    captured = 0
    if status in MONEY_TAKEN and capture is not None:
        captured = _to_cents((capture.get("amount") or {}).get("value"), currency)
    return PaymentState(
        provider_ref=str(order.get("id", "")),
        status=status,
        amount_cents=_to_cents(amount.get("value"), currency),
        currency=currency,
        captured_cents=captured,
        refunded_cents=refunded,
        capture_ref=str(capture["id"]) if capture and capture.get("id") else None,
        raw=dict(order),
    )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidSignature("webhook body is not JSON") from exc
    if not isinstance(data, dict):
        raise InvalidSignature("webhook body is not a JSON object")
    return data


def _webhook_event(event: Mapping[str, Any], body: bytes) -> WebhookEvent:
    event_type = str(event.get("event_type", ""))
    resource = event.get("resource")
    resource = resource if isinstance(resource, dict) else {}
    if event_type.startswith("CHECKOUT.ORDER."):
        ref = resource.get("id")
        unit = (resource.get("purchase_units") or [{}])[0]
        amount = unit.get("amount") or {}
    else:  # a capture or a refund: the order id rides in supplementary_data
        related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
        ref = related.get("order_id")
        amount = resource.get("amount") or {}
    currency = str(amount.get("currency_code", "")).upper() or None
    return WebhookEvent(
        event_id=str(event.get("id") or hashlib.sha256(body).hexdigest()),
        kind=WEBHOOK_KINDS.get(event_type, WebhookKind.OTHER),
        provider_ref=str(ref) if ref else None,
        amount_cents=_to_cents(amount.get("value"), currency) if currency else None,
        currency=currency,
        raw_type=event_type,
        payload=dict(event),
    )
