"""Fake PayPal API on 127.0.0.1: plays PayPal's REST API for the PayPal adapter's SDK.

``FakePayPal`` serves the OAuth token, Orders v2 (create/get/capture), captures refund and
webhook signature verification, honouring ``PayPal-Request-Id`` as the idempotency key.

Knobs beyond the shared ones in ``tests/fakes/base.py`` (``fail_next``, ``lose_next_answer``,
``stop``, ``calls``):

- ``fake.settings``: ``PAYPAL_CLIENT_ID``, ``PAYPAL_CLIENT_SECRET``, ``PAYPAL_WEBHOOK_ID`` and
  ``PAYPAL_BASE_URL`` pointing at this fake.
- ``fake.approve(ref)``: the payer approves the order (PayPal never captures by itself, so
  ``capture`` is ignored); returns ``token`` and ``PayerID`` as PayPal's redirect does.
- ``fake.decline(ref)``: the payer approves, but the capture comes back ``DECLINED``.
- ``fake.webhook(event_type, ref, amount_cents=None, forged=False)``: a ``CHECKOUT.ORDER.*``
  or capture event; only unforged transmissions pass ``verify-webhook-signature``.
- ``fake.orders``: the orders by id, as the API returns them.
"""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid
from decimal import Decimal
from typing import Any

from .base import Answer, FakeProvider, FakeRequest, basic_auth, new_id


def _decimal_places(currency: str) -> int:
    return 0 if currency.upper() in ("JPY", "KRW") else 2


class FakePayPal(FakeProvider):
    """OAuth token, Orders v2 (create/get/capture), captures refund, webhook verification."""

    client_id = "fake-paypal-client"
    client_secret = "fake-paypal-secret"
    webhook_id = "WH-FAKE-0001"

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.tokens: set[str] = set()
        self._capture_orders: dict[str, str] = {}
        self._declined: set[str] = set()
        self._signatures: dict[str, tuple[str, dict[str, Any]]] = {}
        super().__init__()

    @property
    def settings(self) -> dict[str, str]:
        return {
            "PAYPAL_CLIENT_ID": self.client_id,
            "PAYPAL_CLIENT_SECRET": self.client_secret,
            "PAYPAL_WEBHOOK_ID": self.webhook_id,
            "PAYPAL_BASE_URL": self.url,
        }

    def routes(self) -> list[tuple[str, str]]:
        return [
            ("POST", "/v1/oauth2/token"),
            ("POST", "/v2/checkout/orders"),
            ("GET", "/v2/checkout/orders/{}"),
            ("POST", "/v2/checkout/orders/{}/capture"),
            ("POST", "/v2/payments/captures/{}/refund"),
            ("POST", "/v1/notifications/verify-webhook-signature"),
        ]

    def authorized(self, request: FakeRequest) -> bool:
        if request.path == "/v1/oauth2/token":
            return basic_auth(request) == (self.client_id, self.client_secret)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme == "Bearer" and token in self.tokens

    def error(self, status: int, message: str, code: str | None = None) -> Answer:
        if status == 401:
            return status, {"error": "invalid_client", "error_description": message}
        issue = {"issue": code, "description": message} if code else {}
        name = "UNPROCESSABLE_ENTITY" if status == 422 else "ERROR"
        details = [issue] if issue else []
        return status, {"name": name, "message": message, "debug_id": "fake", "details": details}

    def handle(self, route: str, request: FakeRequest) -> Answer:
        key = request.headers.get("paypal-request-id")
        if route == "POST /v1/oauth2/token":
            token = new_id("A21AA")
            self.tokens.add(token)
            return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 32400}
        if route == "POST /v2/checkout/orders":
            return self.once(key, route, lambda: self._create(request.json()))
        if route == "GET /v2/checkout/orders/{}":
            order = self.orders.get(request.params[0])
            return (200, order) if order else self.error(404, "order", "RESOURCE_NOT_FOUND")
        if route == "POST /v2/checkout/orders/{}/capture":
            return self.once(key, route, lambda: self._capture(request.params[0]))
        if route == "POST /v2/payments/captures/{}/refund":
            return self.once(key, route, lambda: self._refund(request.params[0], request.json()))
        return self._verify(request.json())

    def _create(self, body: dict[str, Any]) -> Answer:
        order_id = new_id("5O").upper()[:17]
        unit = body["purchase_units"][0]
        if not _breakdown_adds_up(unit["amount"]):
            return self.error(422, "The amounts in the breakdown do not add up", "AMOUNT_MISMATCH")
        has_context = bool((body.get("payment_source") or {}).get("paypal"))
        rel = "payer-action" if has_context else "approve"
        self.orders[order_id] = {
            "id": order_id,
            "intent": body["intent"],
            "status": "PAYER_ACTION_REQUIRED" if has_context else "CREATED",
            "payment_source": body.get("payment_source") or {},
            "purchase_units": [{**unit, "payments": {}}],
            "links": [
                {"href": f"{self.url}/v2/checkout/orders/{order_id}", "rel": "self"},
                {"href": f"{self.url}/checkoutnow?token={order_id}", "rel": rel},
            ],
        }
        return 200, self.orders[order_id]

    def _capture(self, order_id: str) -> Answer:
        order = self.orders.get(order_id)
        if order is None:
            return self.error(404, "order", "RESOURCE_NOT_FOUND")
        if order["status"] == "COMPLETED":
            return self.error(422, "already captured", "ORDER_ALREADY_CAPTURED")
        if order["status"] != "APPROVED":
            return self.error(422, "payer has not approved", "ORDER_NOT_APPROVED")
        capture_id = new_id("CAP").upper()[:17]
        unit = order["purchase_units"][0]
        unit["payments"]["captures"] = [
            {
                "id": capture_id,
                "status": "DECLINED" if order_id in self._declined else "COMPLETED",
                "amount": dict(unit["amount"]),
                "final_capture": True,
                "supplementary_data": {"related_ids": {"order_id": order_id}},
            }
        ]
        order["status"] = "COMPLETED"
        self._capture_orders[capture_id] = order_id
        return 201, order

    def _refund(self, capture_id: str, body: dict[str, Any]) -> Answer:
        order = self.orders.get(self._capture_orders.get(capture_id, ""))
        if order is None:
            return self.error(404, "capture", "RESOURCE_NOT_FOUND")
        payments = order["purchase_units"][0]["payments"]
        capture = payments["captures"][0]
        if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
            return self.error(422, "capture cannot be refunded", "CAPTURE_FULLY_REFUNDED")
        refunds = payments.setdefault("refunds", [])
        remaining = Decimal(capture["amount"]["value"]) - sum(
            (Decimal(r["amount"]["value"]) for r in refunds), Decimal(0)
        )
        amount = body.get("amount") or {**capture["amount"], "value": str(remaining)}
        if Decimal(amount["value"]) > remaining:
            return self.error(422, "more than remains", "REFUND_AMOUNT_EXCEEDED")
        refund = {"id": new_id("RF").upper()[:17], "status": "COMPLETED", "amount": amount}
        refunds.append(refund)
        left = remaining - Decimal(amount["value"])
        capture["status"] = "REFUNDED" if left == 0 else "PARTIALLY_REFUNDED"
        return 201, refund

    def _verify(self, body: dict[str, Any]) -> Answer:
        signed = self._signatures.get(body.get("transmission_id", ""))
        ok = (
            body.get("webhook_id") == self.webhook_id
            and signed is not None
            and signed[0] == body.get("transmission_sig")
            and signed[1] == body.get("webhook_event")
        )
        return 200, {"verification_status": "SUCCESS" if ok else "FAILURE"}

    # -- test helpers
    def approve(self, ref: str, capture: bool = False) -> dict[str, str]:
        """The payer approves (PayPal never captures by itself: ``capture`` is ignored)."""
        with self.lock:
            self.orders[ref]["status"] = "APPROVED"
            self.orders[ref]["payer"] = {"payer_id": "FAKEPAYER01"}
        return {"token": ref, "PayerID": "FAKEPAYER01"}

    def decline(self, ref: str) -> None:
        """The payer approves, but the funding source declines at capture."""
        self.approve(ref)
        with self.lock:
            self._declined.add(ref)

    def webhook(
        self, event_type: str, ref: str, amount_cents: int | None = None, forged: bool = False
    ) -> tuple[dict[str, str], bytes]:
        with self.lock:
            order = copy.deepcopy(self.orders[ref])
        unit = order["purchase_units"][0]
        amount = dict(unit["amount"])
        if amount_cents is not None:
            places = _decimal_places(amount["currency_code"])
            amount["value"] = f"{Decimal(amount_cents).scaleb(-places):.{places}f}"
        if event_type.startswith("CHECKOUT.ORDER."):
            unit["amount"] = amount
            resource: dict[str, Any] = order
        else:
            captures = unit["payments"].get("captures") or [{"id": new_id("CAP").upper()}]
            resource = {
                "id": captures[-1]["id"],
                "status": captures[-1].get("status", "COMPLETED"),
                "amount": amount,
                "supplementary_data": {"related_ids": {"order_id": ref}},
            }
        event = {
            "id": new_id("WH-"),
            "event_version": "1.0",
            "event_type": event_type,
            "resource_type": "checkout-order" if resource is order else "capture",
            "resource": resource,
        }
        transmission_id, signature = str(uuid.uuid4()), base64.b64encode(uuid.uuid4().bytes)
        if not forged:
            with self.lock:
                self._signatures[transmission_id] = (signature.decode(), event)
        headers = {
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "PAYPAL-TRANSMISSION-SIG": signature.decode(),
            "PAYPAL-CERT-URL": "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        }
        return headers, json.dumps(event).encode()


def _breakdown_adds_up(amount: dict[str, Any]) -> bool:
    """PayPal's rule: item_total + tax_total + shipping + handling + insurance
    - shipping_discount - discount == value (when a breakdown is given)."""
    parts = amount.get("breakdown")
    if not parts:
        return True

    def part(name: str) -> Decimal:
        return Decimal(str((parts.get(name) or {}).get("value") or "0"))

    added = sum(part(n) for n in ("item_total", "tax_total", "shipping", "handling", "insurance"))
    taken = part("shipping_discount") + part("discount")
    return added - taken == Decimal(str(amount["value"]))
