"""``POST /webhooks/<provider>``: verify the signature from the raw body, store the event once,
answer 2xx, then process it (inline without Redis, on RQ with it). Exempt from CSRF, never from
signature checks."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request

from app.db import get_session
from app.extensions import csrf
from app.jobs import process_webhook
from app.providers import InvalidSignature, MalformedWebhook, ProviderError, get_provider
from app.queue import enqueue
from app.services.orders.order_book import OrderLinks
from app.services.payments import authorize as payments

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.post("/<provider>")
@csrf.exempt
def receive(provider: str):
    if provider not in current_app.config["PAYMENT_PROVIDERS"]:
        abort(404)
    adapter = get_provider(provider, current_app.config)
    session = get_session()
    try:
        event, new = payments.receive_webhook(
            session, adapter, request.headers, request.get_data(cache=False)
        )
    except MalformedWebhook as exc:
        current_app.logger.warning("webhook %s refused: %s", provider, exc)
        return jsonify({"error": "malformed webhook"}), 400
    except InvalidSignature as exc:
        current_app.logger.warning("webhook %s refused: %s", provider, exc)
        return jsonify({"error": "invalid signature"}), 400
    except ProviderError as exc:  # e.g. PayPal's verification endpoint is unreachable
        current_app.logger.warning("webhook %s not verified yet: %s", provider, exc)
        return jsonify({"error": "cannot verify now; retry later"}), 503
    if not new:
        return jsonify({"status": "duplicate", "id": event.event_id}), 200
    event_id = event.id
    try:
        enqueue(
            current_app.config,
            process_webhook,
            event_id,
            provider,
            inline=lambda: payments.process_webhook(
                session, event_id, adapter, links=OrderLinks.from_config(current_app.config)
            ),
        )
    except Exception as exc:  # noqa: BLE001 - it is stored: reconciliation processes it later
        current_app.logger.warning(
            "webhook %s stored, processing deferred: %s", provider, type(exc).__name__
        )
    return jsonify({"status": "received", "id": event.event_id}), 200
