"""Fake Razorpay API on 127.0.0.1: plays Razorpay's API for the Razorpay adapter's SDK.

``FakeRazorpay`` serves Orders (create/list by receipt/fetch/payments) and Payments
(fetch/capture/refund/refunds), with Basic auth on the key id and secret.

Knobs beyond the shared ones in ``tests/fakes/base.py`` (``fail_next``, ``lose_next_answer``,
``stop``, ``calls``):

- ``fake.settings``: ``RAZORPAY_KEY_ID``, ``RAZORPAY_KEY_SECRET``, ``RAZORPAY_WEBHOOK_SECRET``
  and ``RAZORPAY_BASE_URL`` pointing at this fake.
- ``fake.approve(ref, capture=False)``: the shopper pays in Checkout: the payment is
  authorized (or captured, as with auto-capture); returns what Checkout's handler receives,
  signed with the key secret.
- ``fake.decline(ref)``: a failed payment attempt on the order.
- ``fake.webhook(event_type, ref, amount_cents=None, forged=False)``: a ``payment.*``,
  ``order.*`` or ``refund.*`` event, signed with the webhook secret.
- ``fake.orders``, ``fake.payments``, ``fake.refunds``: the objects by id.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from typing import Any

from .base import Answer, FakeProvider, FakeRequest, basic_auth, new_id


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class FakeRazorpay(FakeProvider):
    """Orders (create/list by receipt/fetch/payments), Payments (fetch/capture/refund/refunds)."""

    key_id = "rzp_test_fake"
    key_secret = "fake-key-secret"
    webhook_secret = "fake-webhook-secret"

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        super().__init__()

    @property
    def settings(self) -> dict[str, str]:
        return {
            "RAZORPAY_KEY_ID": self.key_id,
            "RAZORPAY_KEY_SECRET": self.key_secret,
            "RAZORPAY_WEBHOOK_SECRET": self.webhook_secret,
            "RAZORPAY_BASE_URL": self.url,
        }

    def routes(self) -> list[tuple[str, str]]:
        return [
            ("POST", "/v1/orders"),
            ("GET", "/v1/orders"),
            ("GET", "/v1/orders/{}"),
            ("GET", "/v1/orders/{}/payments"),
            ("GET", "/v1/payments/{}"),
            ("POST", "/v1/payments/{}/capture"),
            ("POST", "/v1/payments/{}/refund"),
            ("GET", "/v1/payments/{}/refunds"),
        ]

    def authorized(self, request: FakeRequest) -> bool:
        return basic_auth(request) == (self.key_id, self.key_secret)

    def error(self, status: int, message: str, code: str | None = None) -> Answer:
        code = code or ("SERVER_ERROR" if status >= 500 else "BAD_REQUEST_ERROR")
        return status, {"error": {"code": code, "description": message}}

    def handle(self, route: str, request: FakeRequest) -> Answer:
        ref = request.params[0] if request.params else ""
        if route == "POST /v1/orders":
            return self._create(request.json())
        if route == "GET /v1/orders":
            receipt = request.query.get("receipt")
            return 200, _collection(o for o in self.orders.values() if o["receipt"] == receipt)
        store = self.orders if route.startswith("GET /v1/orders/") else self.payments
        if ref not in store:
            return self.error(400, "The id provided does not exist")
        if route == "GET /v1/orders/{}":
            return 200, store[ref]
        if route == "GET /v1/orders/{}/payments":
            return 200, _collection(p for p in self.payments.values() if p["order_id"] == ref)
        if route == "GET /v1/payments/{}":
            return 200, store[ref]
        if route == "POST /v1/payments/{}/capture":
            return self._capture(store[ref], request.json())
        if route == "GET /v1/payments/{}/refunds":
            return 200, _collection(r for r in self.refunds.values() if r["payment_id"] == ref)
        return self._refund(store[ref], request.json())

    def _create(self, body: dict[str, Any]) -> Answer:
        if int(body.get("amount", 0)) < 100:
            return self.error(400, "Order amount less than minimum amount allowed")
        order_id = new_id("order_")
        self.orders[order_id] = {
            "id": order_id,
            "entity": "order",
            "amount": int(body["amount"]),
            "amount_paid": 0,
            "amount_due": int(body["amount"]),
            "currency": body["currency"],
            "receipt": body.get("receipt"),
            "status": "created",
            "attempts": 0,
            "notes": body.get("notes") or {},
            "created_at": int(time.time()),
        }
        return 200, self.orders[order_id]

    def _capture(self, payment: dict[str, Any], body: dict[str, Any]) -> Answer:
        if payment["status"] != "authorized":
            return self.error(400, "This payment has already been captured or is not authorized")
        if int(body.get("amount", 0)) != payment["amount"]:
            return self.error(400, "Capture amount must be equal to the amount authorized")
        payment.update(status="captured", captured=True)
        order = self.orders[payment["order_id"]]
        order.update(status="paid", amount_paid=payment["amount"], amount_due=0)
        return 200, payment

    def _refund(self, payment: dict[str, Any], body: dict[str, Any]) -> Answer:
        if payment["status"] not in ("captured",):
            return self.error(400, "The payment has been fully refunded or is not captured")
        remaining = payment["amount"] - payment["amount_refunded"]
        amount = int(body.get("amount") or remaining)
        if amount > remaining:
            return self.error(400, "The refund amount provided is greater than amount captured")
        refund = {
            "id": new_id("rfnd_"),
            "entity": "refund",
            "amount": amount,
            "currency": payment["currency"],
            "payment_id": payment["id"],
            "receipt": body.get("receipt"),
            "notes": body.get("notes") or {},
            "status": "processed",
        }
        self.refunds[refund["id"]] = refund
        payment["amount_refunded"] += amount
        full = payment["amount_refunded"] == payment["amount"]
        payment["refund_status"] = "full" if full else "partial"
        if full:
            payment["status"] = "refunded"
        return 200, refund

    # -- test helpers
    def _new_payment(self, order: dict[str, Any], status: str) -> dict[str, Any]:
        payment_id = new_id("pay_")
        self.payments[payment_id] = {
            "id": payment_id,
            "entity": "payment",
            "amount": order["amount"],
            "currency": order["currency"],
            "status": status,
            "order_id": order["id"],
            "method": "card",
            "amount_refunded": 0,
            "refund_status": None,
            "captured": status == "captured",
            "error_code": "BAD_REQUEST_ERROR" if status == "failed" else None,
        }
        order["attempts"] += 1
        order["status"] = "paid" if status == "captured" else "attempted"
        return self.payments[payment_id]

    def approve(self, ref: str, capture: bool = False) -> dict[str, str]:
        """The shopper pays in Checkout: authorized (or captured, as with auto-capture).
        Returns what Checkout's handler receives, signed with the key secret."""
        with self.lock:
            payment = self._new_payment(self.orders[ref], "captured" if capture else "authorized")
        signature = _hmac_hex(self.key_secret, f"{ref}|{payment['id']}".encode())
        return {
            "razorpay_order_id": ref,
            "razorpay_payment_id": payment["id"],
            "razorpay_signature": signature,
        }

    def decline(self, ref: str) -> None:
        with self.lock:
            self._new_payment(self.orders[ref], "failed")

    def webhook(
        self, event_type: str, ref: str, amount_cents: int | None = None, forged: bool = False
    ) -> tuple[dict[str, str], bytes]:
        with self.lock:
            payments = [p for p in self.payments.values() if p["order_id"] == ref]
            payment = copy.deepcopy(payments[-1] if payments else {"order_id": ref})
            refunds = [r for r in self.refunds.values() if r["payment_id"] == payment.get("id")]
            refund = copy.deepcopy(refunds[-1] if refunds else {})
        payload: dict[str, Any] = {"payment": {"entity": payment}}
        subject = payment
        if event_type.startswith("refund."):
            payload["refund"] = {"entity": refund}
            subject = refund
        if amount_cents is not None:
            subject["amount"] = amount_cents
        event = {
            "entity": "event",
            "account_id": "acc_fake",
            "event": event_type,
            "contains": list(payload),
            "payload": payload,
            "created_at": int(time.time()),
        }
        body = json.dumps(event).encode()
        secret = "forged-secret" if forged else self.webhook_secret
        headers = {
            "X-Razorpay-Signature": _hmac_hex(secret, body),
            "X-Razorpay-Event-Id": new_id("evt_"),
            "Content-Type": "application/json",
        }
        return headers, body


def _collection(items: Any) -> dict[str, Any]:
    found = list(items)
    return {"entity": "collection", "count": len(found), "items": found}
