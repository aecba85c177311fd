"""Fake PayPal, Stripe and Razorpay APIs on 127.0.0.1, for testing the adapters' real SDKs.

Each fake is a stdlib ``ThreadingHTTPServer`` on an ephemeral port, serving from a daemon
thread and keeping its state in memory. It imitates only the calls our adapters make, in the
shapes, status codes and idempotency rules of the real API.

The same test helpers on every fake:

- ``fake.settings``: the adapter settings that point at this fake.
- ``fake.approve(ref, capture=...)``: the shopper approves/pays; returns the parameters the
  provider sends back with the shopper.
- ``fake.decline(ref)``: the shopper's payment fails.
- ``fake.webhook(event_type, ref, amount_cents=None, forged=False)``: ``(headers, body)`` of a
  webhook signed as the provider signs it (``forged``: with a wrong key or signature).
- ``fake.fail_next(status, times=1)``: the next requests answer with this HTTP status.
- ``fake.calls``: ``"METHOD /path"`` of every request served.
- ``fake.lose_next_answer(times=1)``: the next requests are done, but their answers are lost
  (a 504 reaches the caller): a capture that timed out after it happened.
- ``fake.stop()``: close the port, so calls fail as on a network outage.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

Answer = tuple[int, Any]
_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):04d}{uuid.uuid4().hex[:10]}"


@dataclass
class FakeRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lowercased
    body: bytes
    params: tuple[str, ...] = ()  # what the route's placeholders matched

    def json(self) -> dict[str, Any]:
        return json.loads(self.body or b"{}")

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


class FakeProvider:
    """The HTTP plumbing shared by the fakes: routing, auth, idempotency, injected failures."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.calls: list[str] = []
        self._failures: list[int] = []
        self._lost_answers = 0
        self._replies: dict[tuple[str, str], Answer] = {}
        self._routes = [(method, pattern.split("/")) for method, pattern in self.routes()]
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # A short poll keeps stop() quick: shutdown() waits for the loop to look up.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    # -- to override
    def routes(self) -> list[tuple[str, str]]:
        """(method, path pattern) pairs; ``{}`` segments are passed to ``handle``."""
        raise NotImplementedError

    def authorized(self, request: FakeRequest) -> bool:
        raise NotImplementedError

    def error(self, status: int, message: str, code: str | None = None) -> Answer:
        raise NotImplementedError

    def handle(self, route: str, request: FakeRequest) -> Answer:
        raise NotImplementedError

    # -- helpers for tests
    def fail_next(self, status: int, times: int = 1) -> None:
        with self.lock:
            self._failures.extend([status] * times)

    def lose_next_answer(self, times: int = 1) -> None:
        with self.lock:
            self._lost_answers += times

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    # -- machinery
    def dispatch(self, request: FakeRequest) -> Answer:
        with self.lock:
            self.calls.append(f"{request.method} {request.path}")
            if self._failures:
                return self.error(self._failures.pop(0), "injected failure")
            if not self.authorized(request):
                return self.error(401, "authentication failed")
            for method, pattern in self._routes:
                params = _match(pattern, request.path.split("/"))
                if method == request.method and params is not None:
                    request.params = params
                    answer = self.handle(f"{method} {'/'.join(pattern)}", request)
                    if self._lost_answers and request.method == "POST":
                        self._lost_answers -= 1
                        return self.error(504, "gateway timeout (the work was done)")
                    return answer
            return self.error(404, f"no route {request.method} {request.path}")

    def once(self, key: str | None, route: str, compute: Callable[[], Answer]) -> Answer:
        """Answer a repeated idempotency key with the first answer, as the real APIs do."""
        if not key:
            return compute()
        if (route, key) not in self._replies:
            answer = compute()
            if answer[0] >= 500:
                return answer
            self._replies[(route, key)] = answer
        return self._replies[(route, key)]


def _match(pattern: list[str], parts: list[str]) -> tuple[str, ...] | None:
    if len(pattern) != len(parts):
        return None
    params = []
    for want, got in zip(pattern, parts, strict=True):
        if want == "{}":
            params.append(got)
        elif want != got:
            return None
    return tuple(params)


def _handler_for(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            request = FakeRequest(
                method=self.command,
                path=parts.path,
                query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            status, payload = fake.dispatch(request)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


def _basic_auth(request: FakeRequest) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    user, _, password = base64.b64decode(value).decode().partition(":")
    return user, password


def _decimal_places(currency: str) -> int:
    return 0 if currency.upper() in ("JPY", "KRW") else 2


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# ============================================================================ PayPal


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
            return _basic_auth(request) == (self.client_id, self.client_secret)
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


# ============================================================================ Stripe


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


# ============================================================================ Razorpay


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
        return _basic_auth(request) == (self.key_id, self.key_secret)

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
