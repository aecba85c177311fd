"""testpay: the built-in offline provider for development, demos and tests.

It plays a remote provider inside the shop: its own table (``testpay_payments``), its own
session (never the caller's transaction), a hosted approval page (``/testpay/pay/<ref>``) and
HMAC-signed webhooks sent by HTTP POST to ``/webhooks/testpay`` from outside the approving
request. Approving captures at once (like a card payment with automatic capture).

Webhook: JSON ``{"id": "evt_…", "type": "payment.captured" | "payment.failed" |
"payment.refunded", "data": {"payment_ref", "amount", "currency"}}`` with header
``Testpay-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` keyed by
``TESTPAY_WEBHOOK_SECRET``; signatures older than 300 s are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app import clock
from app.db import PoolSettings, Timeouts, begin_write, shared_engine
from app.models import TestpayPayment

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
    lowercase_headers,
)

SIGNATURE_HEADER = "Testpay-Signature"
TOLERANCE_SECONDS = 300
KINDS = {
    "payment.captured": WebhookKind.CAPTURED,
    "payment.failed": WebhookKind.FAILED,
    "payment.refunded": WebhookKind.REFUNDED,
}


def _sessions(settings: Mapping[str, Any]) -> sessionmaker:
    """testpay's own sessions (it plays a remote provider: never the caller's transaction), on
    the process's one engine for the shop's database."""
    engine = shared_engine(
        settings["DATABASE_URL"], Timeouts.from_config(settings), PoolSettings.from_config(settings)
    )
    return sessionmaker(engine, expire_on_commit=False)


def webhook_secret(settings: Mapping[str, Any]) -> str:
    secret = settings.get("TESTPAY_WEBHOOK_SECRET")
    if secret:
        return str(secret)
    return hmac.new(
        str(settings["SECRET_KEY"]).encode(), b"testpay-webhooks", hashlib.sha256
    ).hexdigest()


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


class TestpayProvider:
    __test__ = False  # not a pytest test class, whatever its name
    name = "testpay"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        if not settings.get("TESTPAY_ENABLED", True):
            raise ProviderError("testpay is disabled here (set TESTPAY_ENABLED=true to allow it)")
        self.settings = settings
        self.secret = webhook_secret(settings)
        self._sessions = _sessions(settings)

    # -- helpers

    def _state(self, row: TestpayPayment) -> PaymentState:
        return PaymentState(
            provider_ref=row.ref,
            status=row.status,
            amount_cents=row.amount_cents,
            currency=row.currency,
            captured_cents=row.captured_cents,
            refunded_cents=row.refunded_cents,
            capture_ref=row.ref if row.captured_cents else None,
        )

    def _row(self, session: Session, ref: str, *, lock: bool = False) -> TestpayPayment:
        if lock:
            begin_write(session)
        stmt = select(TestpayPayment).where(TestpayPayment.ref == ref)
        row = session.scalar(stmt.with_for_update(key_share=True) if lock else stmt)
        if row is None:
            raise ProviderError(f"testpay: no payment {ref}")
        return row

    # -- the protocol

    def create(self, request: PaymentRequest) -> CreatedPayment:
        with self._sessions() as session:
            begin_write(session)
            row = session.scalar(
                select(TestpayPayment).where(
                    TestpayPayment.idempotency_key == request.idempotency_key
                )
            )
            if row is None:
                row = TestpayPayment(
                    ref="tp_" + secrets.token_hex(12),
                    checkout_ref=request.checkout_ref,
                    amount_cents=request.amount_cents,
                    currency=request.currency,
                    description=request.description,
                    status=PaymentStatus.PENDING,
                    return_url=request.return_url,
                    cancel_url=request.cancel_url,
                    idempotency_key=request.idempotency_key,
                    expires_at=request.expires_at,
                )
                session.add(row)
            session.commit()
            return CreatedPayment(row.ref, f"/testpay/pay/{row.ref}", row.status)

    def capture(self, provider_ref: str, idempotency_key: str) -> PaymentState:
        with self._sessions() as session:
            row = self._row(session, provider_ref, lock=True)
            if row.status is PaymentStatus.AUTHORIZED:
                row.status, row.captured_cents = PaymentStatus.CAPTURED, row.amount_cents
                session.commit()
            if row.status not in (
                PaymentStatus.CAPTURED,
                PaymentStatus.REFUNDED,
                PaymentStatus.PARTIALLY_REFUNDED,
            ):
                raise ProviderError(f"testpay: payment {provider_ref} is {row.status.value}")
            return self._state(row)

    def fetch(self, provider_ref: str) -> PaymentState:
        with self._sessions() as session:
            return self._state(self._row(session, provider_ref))

    def refund(self, state: PaymentState, amount_cents: int, idempotency_key: str) -> RefundResult:
        with self._sessions() as session:
            row = self._row(session, state.provider_ref, lock=True)
            done = row.refunds.get(idempotency_key)
            if done is None:
                if amount_cents <= 0 or row.refunded_cents + amount_cents > row.captured_cents:
                    raise ProviderError("testpay: refund exceeds what was captured")
                done = {"id": "tpr_" + secrets.token_hex(8), "amount": amount_cents}
                row.refunds = {**row.refunds, idempotency_key: done}
                row.refunded_cents += amount_cents
                row.status = (
                    PaymentStatus.REFUNDED
                    if row.refunded_cents >= row.captured_cents
                    else PaymentStatus.PARTIALLY_REFUNDED
                )
                session.commit()
            return RefundResult(done["id"], done["amount"], row.currency, "succeeded")

    def void(self, provider_ref: str) -> None:
        with self._sessions() as session:
            row = self._row(session, provider_ref, lock=True)
            if row.status in (PaymentStatus.PENDING, PaymentStatus.AUTHORIZED):
                row.status = PaymentStatus.VOIDED
            session.commit()

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        lowered = lowercase_headers(headers)
        header = lowered.get(SIGNATURE_HEADER.lower())
        if not header:
            raise InvalidSignature("missing Testpay-Signature header")
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        try:
            t = int(parts["t"])
            given = parts["v1"]
            sign(b"", self.secret, t)  # a timestamp that cannot be formatted is malformed too
        except (KeyError, ValueError, OverflowError) as exc:
            raise InvalidSignature("malformed Testpay-Signature header") from exc
        expected = sign(body, self.secret, t).split("v1=", 1)[1]
        # Bytes, not str: compare_digest refuses a str with characters beyond ASCII.
        if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
            raise InvalidSignature("signature does not match")
        if abs(time.time() - t) > TOLERANCE_SECONDS:
            raise InvalidSignature("signature is too old")
        try:
            payload = json.loads(body)
            data = payload["data"]
            return WebhookEvent(
                event_id=str(payload["id"]),
                kind=KINDS.get(payload["type"], WebhookKind.OTHER),
                provider_ref=str(data["payment_ref"]),
                amount_cents=int(data["amount"]),
                currency=str(data["currency"]),
                raw_type=str(payload["type"]),
                payload=payload,
            )
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            raise InvalidSignature(f"malformed webhook body: {exc}") from exc

    def verify_return(self, provider_ref: str, params: Mapping[str, str]) -> PaymentState:
        return self.fetch(provider_ref)

    # -- the hosted page (testpay's own side)

    def page(self, ref: str) -> TestpayPayment:
        with self._sessions() as session:
            return self._row(session, ref)

    def decide(self, ref: str, approve: bool, now: datetime | None = None) -> TestpayPayment:
        """The shopper pressed Approve or Decline. Approving captures."""
        now = clock.now(now)
        with self._sessions() as session:
            row = self._row(session, ref, lock=True)
            if row.status is PaymentStatus.PENDING:
                if approve:
                    row.status, row.captured_cents = PaymentStatus.CAPTURED, row.amount_cents
                else:
                    row.status = PaymentStatus.FAILED
            session.commit()
            return row

    def webhook_for(self, row: TestpayPayment, event_type: str) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(
            {
                "id": "evt_" + secrets.token_hex(12),
                "type": event_type,
                "data": {
                    "payment_ref": row.ref,
                    "amount": row.amount_cents,
                    "currency": row.currency,
                },
            }
        ).encode()
        return body, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, self.secret)}
