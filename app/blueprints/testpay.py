"""testpay's hosted approval page (the offline provider's side of the payment)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, url_for

from app.forms import ActionForm
from app.jobs import deliver_webhook
from app.providers import ProviderError, get_provider
from app.queue import enqueue
from app.web import render_page

bp = Blueprint("testpay", __name__, url_prefix="/testpay")


def _provider():
    if "testpay" not in current_app.config["PAYMENT_PROVIDERS"]:
        abort(404)
    return get_provider("testpay", current_app.config)


def _payment(provider, ref: str):
    try:
        return provider.page(ref)
    except ProviderError:
        abort(404)


@bp.get("/pay/<ref>")
def pay_page(ref: str):
    provider = _provider()
    return render_page("testpay/pay.html", payment=_payment(provider, ref), form=ActionForm())


def _decide(ref: str, approve: bool):
    ActionForm().validate()
    provider = _provider()
    _payment(provider, ref)
    row = provider.decide(ref, approve)
    event = "payment.captured" if approve else "payment.failed"
    if current_app.config.get("TESTPAY_SEND_WEBHOOKS", True):
        body, headers = provider.webhook_for(row, event)
        url = url_for("webhooks.receive", provider="testpay", _external=True)
        # Like a real provider, the webhook is sent from elsewhere, never inside this request.
        enqueue(current_app.config, deliver_webhook, url, body, headers, background=True)
    return redirect(row.return_url if approve else row.cancel_url, code=303)


@bp.post("/pay/<ref>/approve")
def approve(ref: str):
    return _decide(ref, True)


@bp.post("/pay/<ref>/decline")
def decline(ref: str):
    return _decide(ref, False)
