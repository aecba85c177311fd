"""Razorpay's payment page, ``/pay/razorpay/<order_id>`` (the adapter's approval URL).

Razorpay's Orders flow has no hosted approval page: the shop opens Razorpay Checkout
(JavaScript, ``static/js/razorpay-pay.js``) for the Razorpay order itself, and Checkout's
handler sends ``razorpay_payment_id``, ``razorpay_order_id`` and ``razorpay_signature`` to the
checkout's return URL, where the adapter's ``verify_return`` checks the signature.

Promises: the page exists only while Razorpay is enabled, only for a Razorpay payment of ours,
and only for the shopper who started its checkout (anyone else: 404, as for the checkout). Pay
is offered only for the checkout's newest payment while it awaits payment. The page carries no
inline script; its Content-Security-Policy adds Razorpay's two origins for scripts, frames and
calls, on this response only.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app

from app.db import get_session
from app.models import Checkout, CheckoutState, Payment
from app.providers import PaymentStatus
from app.services.orders import completion
from app.web import render_page, shopper_key

bp = Blueprint("razorpay_pay", __name__, url_prefix="/pay/razorpay")

CHECKOUT_JS = "https://checkout.razorpay.com/v1/checkout.js"
RAZORPAY_ORIGINS = "https://checkout.razorpay.com https://api.razorpay.com"
# The shop's default policy (app/templating.py), plus Razorpay where Checkout needs it: its
# script, the iframe it opens, and the calls that script makes.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    f"script-src 'self' {RAZORPAY_ORIGINS}; frame-src {RAZORPAY_ORIGINS}; "
    f"connect-src 'self' {RAZORPAY_ORIGINS}; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def _payment_and_checkout(order_id: str) -> tuple[Payment, Checkout]:
    """Our Razorpay payment for ``order_id`` and its checkout, if this shopper owns it."""
    if "razorpay" not in current_app.config["PAYMENT_PROVIDERS"]:
        abort(404)
    return completion.shoppers_payment(get_session(), "razorpay", order_id, shopper_key())


@bp.get("/<order_id>")
def pay_page(order_id: str):
    payment, checkout = _payment_and_checkout(order_id)
    session = get_session()
    latest = completion.latest_payment(session, checkout.id)
    payable = (
        checkout.state is CheckoutState.AWAITING_PAYMENT
        and latest.id == payment.id
        and payment.status is PaymentStatus.PENDING
    )
    response = render_page(
        "razorpay/pay.html",
        payment=payment,
        checkout=checkout,
        payable=payable,
        key_id=current_app.config["RAZORPAY_KEY_ID"],
        checkout_js=CHECKOUT_JS,
    )
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-store"
    return response
