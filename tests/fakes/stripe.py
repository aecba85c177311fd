"""Fake Stripe API on 127.0.0.1: plays Stripe's API for the Stripe adapter's ``stripe`` SDK.

``FakeStripe`` serves Checkout Sessions (create/retrieve/list/expire), PaymentIntents
(retrieve/capture/cancel) and Refunds (create), with ``expand`` and ``Idempotency-Key``.

Knobs beyond the shared ones in ``tests/fakes/base.py`` (``fail_next``, ``lose_next_answer``,
``stop``, ``calls``):

- ``fake.settings``: ``STRIPE_SECRET_KEY``, ``STRIPE_WEBHOOK_SECRET`` and ``STRIPE_API_BASE``
  pointing at this fake.
- ``fake.approve(ref, capture=True)``: the shopper pays the session; with ``capture=False``
  the PaymentIntent waits for a manual capture.
- ``fake.decline(ref)``: the card is declined; the session stays open for another try.
- ``fake.webhook(event_type, ref, amount_cents=None, forged=False, signed_at=None)``: a
  ``checkout.session.*``, ``payment_intent.*`` or ``charge.*`` event, signed as Stripe signs
  it (``signed_at``: the signature's timestamp, for replay tests).
- ``fake.sessions``, ``fake.intents``, ``fake.charges``: the objects by id.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import stripe

from .base import Answer, FakeProvider, FakeRequest, new_id


class FakeStripe(FakeProvider):
    """Checkout Sessions (create/retrieve/list/expire), PaymentIntents (retrieve/capture/
    cancel) and Refunds (create), with ``expand`` and ``Idempotency-Key``."""

    secret_key = "sk_test_fake"
    webhook_secret = "whsec_fake"

    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        super().__init__()

    @property
    def settings(self) -> dict[str, str]:
        return {
            "STRIPE_SECRET_KEY": self.secret_key,
            "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
            "STRIPE_API_BASE": self.url,
        }

    def routes(self) -> list[tuple[str, str]]:
        return [
            ("POST", "/v1/checkout/sessions"),
            ("GET", "/v1/checkout/sessions"),
            ("GET", "/v1/checkout/sessions/{}"),
            ("POST", "/v1/checkout/sessions/{}/expire"),
            ("GET", "/v1/payment_intents/{}"),
            ("POST", "/v1/payment_intents/{}/capture"),
            ("POST", "/v1/payment_intents/{}/cancel"),
            ("POST", "/v1/refunds"),
        ]

    def authorized(self, request: FakeRequest) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.secret_key}"

    def error(self, status: int, message: str, code: str | None = None) -> Answer:
        kind = "api_error" if status >= 500 else "invalid_request_error"
        return status, {"error": {"type": kind, "message": message, "code": code}}

    def handle(self, route: str, request: FakeRequest) -> Answer:
        key = request.headers.get("idempotency-key")
        ref = request.params[0] if request.params else ""
        if route == "POST /v1/checkout/sessions":
            return self.once(key, route, lambda: self._create(request.form()))
        if route == "GET /v1/checkout/sessions":
            wanted = request.query.get("payment_intent")
            found = [s for s in self.sessions.values() if s["payment_intent"] == wanted]
            return 200, {"object": "list", "data": found, "has_more": False, "url": route[4:]}
        if route == "GET /v1/checkout/sessions/{}":
            if ref not in self.sessions:
                return self.error(404, f"No such checkout.session: '{ref}'", "resource_missing")
            expand = {v for k, v in request.query.items() if k.startswith("expand[")}
            return 200, self._expanded(self.sessions[ref], expand)
        if route == "POST /v1/checkout/sessions/{}/expire":
            return self._expire(ref)
        if "/v1/payment_intents/" in route and ref not in self.intents:
            return self.error(404, f"No such payment_intent: '{ref}'", "resource_missing")
        if route == "GET /v1/payment_intents/{}":
            return 200, self.intents[ref]
        if route == "POST /v1/payment_intents/{}/capture":
            return self.once(key, route, lambda: self._capture(ref))
        if route == "POST /v1/payment_intents/{}/cancel":
            return self._cancel(ref)
        return self.once(key, route, lambda: self._refund(request.form()))

    def _create(self, form: dict[str, str]) -> Answer:
        now = int(time.time())
        expires_at = int(form.get("expires_at") or now + 86400)
        if not now + 1800 <= expires_at <= now + 86400:
            return self.error(400, "expires_at must be 30 minutes to 24 hours ahead", "invalid")
        item = "line_items[0]"
        amount = int(form[f"{item}[price_data][unit_amount]"]) * int(form[f"{item}[quantity]"])
        session_id = new_id("cs_test_")
        self.sessions[session_id] = {
            "id": session_id,
            "object": "checkout.session",
            "mode": form["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": amount,
            "currency": form[f"{item}[price_data][currency]"],
            "client_reference_id": form.get("client_reference_id"),
            "customer_email": form.get("customer_email"),
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            "payment_intent": None,
            "expires_at": expires_at,
            "success_url": form["success_url"],
            "cancel_url": form["cancel_url"],
            "url": f"{self.url}/c/pay/{session_id}",
        }
        return 200, self.sessions[session_id]

    def _expanded(self, session: dict[str, Any], expand: set[str]) -> dict[str, Any]:
        session = copy.deepcopy(session)
        intent_id = session["payment_intent"]
        if "payment_intent" in expand and intent_id:
            intent = copy.deepcopy(self.intents[intent_id])
            if "payment_intent.latest_charge" in expand and intent["latest_charge"]:
                intent["latest_charge"] = copy.deepcopy(self.charges[intent["latest_charge"]])
            session["payment_intent"] = intent
        return session

    def _expire(self, ref: str) -> Answer:
        session = self.sessions.get(ref)
        if session is None:
            return self.error(404, f"No such checkout.session: '{ref}'", "resource_missing")
        if session["status"] != "open":
            return self.error(400, 'Only sessions with status "open" can be expired.')
        session["status"] = "expired"
        if session["payment_intent"]:
            self.intents[session["payment_intent"]]["status"] = "canceled"
        return 200, session

    def _capture(self, ref: str) -> Answer:
        intent = self.intents[ref]
        if intent["status"] != "requires_capture":
            return self.error(400, "not capturable", "payment_intent_unexpected_state")
        intent.update(status="succeeded", amount_received=intent["amount"])
        self.charges[intent["latest_charge"]].update(
            captured=True, amount_captured=intent["amount"]
        )
        for session in self.sessions.values():
            if session["payment_intent"] == ref:
                session["payment_status"] = "paid"
        return 200, intent

    def _cancel(self, ref: str) -> Answer:
        intent = self.intents[ref]
        if intent["status"] in ("succeeded", "canceled"):
            return self.error(400, "cannot cancel", "payment_intent_unexpected_state")
        intent["status"] = "canceled"
        return 200, intent

    def _refund(self, form: dict[str, str]) -> Answer:
        intent = self.intents.get(form.get("payment_intent", ""))
        if intent is None or intent["status"] != "succeeded":
            return self.error(400, "This PaymentIntent has no successful charge to refund.")
        charge = self.charges[intent["latest_charge"]]
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        amount = int(form.get("amount") or remaining)
        if amount > remaining:
            return self.error(400, "Refund amount is greater than unrefunded amount on charge")
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        refund = {
            "id": new_id("re_"),
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "charge": charge["id"],
            "status": "succeeded",
        }
        return 200, refund

    # -- test helpers
    def _intent_for(self, session: dict[str, Any]) -> dict[str, Any]:
        if not session["payment_intent"]:
            intent_id = new_id("pi_")
            session["payment_intent"] = intent_id
            self.intents[intent_id] = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": session["amount_total"],
                "amount_received": 0,
                "currency": session["currency"],
                "status": "requires_payment_method",
                "latest_charge": None,
                "last_payment_error": None,
                "metadata": session["metadata"],
            }
        return self.intents[session["payment_intent"]]

    def approve(self, ref: str, capture: bool = True) -> dict[str, str]:
        """The shopper pays; with ``capture=False`` the intent waits for capture (manual)."""
        with self.lock:
            session = self.sessions[ref]
            intent = self._intent_for(session)
            charge_id = new_id("ch_")
            amount = intent["amount"]
            self.charges[charge_id] = {
                "id": charge_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount if capture else 0,
                "amount_refunded": 0,
                "captured": capture,
                "refunded": False,
                "currency": intent["currency"],
                "payment_intent": intent["id"],
            }
            intent.update(
                status="succeeded" if capture else "requires_capture",
                amount_received=amount if capture else 0,
                latest_charge=charge_id,
                last_payment_error=None,
            )
            session.update(status="complete", payment_status="paid" if capture else "unpaid")
        return {"session_id": ref}

    def decline(self, ref: str) -> None:
        """The card is declined; the session stays open for another try."""
        with self.lock:
            intent = self._intent_for(self.sessions[ref])
            intent["last_payment_error"] = {"code": "card_declined", "type": "card_error"}

    def webhook(
        self,
        event_type: str,
        ref: str,
        amount_cents: int | None = None,
        forged: bool = False,
        signed_at: int | None = None,
    ) -> tuple[dict[str, str], bytes]:
        with self.lock:
            session = copy.deepcopy(self.sessions[ref])
            intent = copy.deepcopy(self.intents.get(session["payment_intent"] or "", {}))
            charge = copy.deepcopy(self.charges.get(intent.get("latest_charge") or "", {}))
        if event_type.startswith("payment_intent."):
            obj, amount_field = intent, "amount"
        elif event_type.startswith("charge."):
            obj, amount_field = charge, "amount_refunded"
        else:
            obj, amount_field = session, "amount_total"
        if amount_cents is not None:
            obj[amount_field] = amount_cents
        event = {
            "id": new_id("evt_"),
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": obj},
        }
        body = json.dumps(event)
        secret = "whsec_forged" if forged else self.webhook_secret
        header = stripe.WebhookSignature.generate_signature_header(body, secret, signed_at)
        return {"Stripe-Signature": header}, body.encode()
