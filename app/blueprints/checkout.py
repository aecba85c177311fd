"""Checkout pages: address → review with the hold's countdown → pay → return from provider."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    request,
    url_for,
)
from flask_login import current_user

from app.db import get_session
from app.forms import (
    ActionForm,
    CheckoutForm,
    ConfirmPricesForm,
    DigitalCheckoutForm,
    DiscountCodeForm,
    PayForm,
    ShippingChoiceForm,
)
from app.models import CheckoutState
from app.providers import InvalidSignature, ProviderError, get_provider, provider_label
from app.services.accounts import addresses
from app.services.checkout import adjust, countries, thumbnails, totals
from app.services.checkout import cart as cart_service
from app.services.checkout import pipeline as checkout_service
from app.services.checkout import review as review_service
from app.services.checkout.pipeline import Address, CheckoutError, Settings
from app.services.checkout.states import Phase
from app.services.discounts.rules import DiscountError
from app.services.errors import Conflict
from app.services.orders import completion, outcomes
from app.services.orders import order_book as orders
from app.services.payments.authorize import PriceDriftError, Urls, authorize_payment
from app.web import current_cart_id, render_page, shopper_key, wants_fragment

bp = Blueprint("checkout", __name__, url_prefix="/checkout")


def settings() -> Settings:
    cfg = current_app.config
    return Settings(
        cfg["HOLD_TTL_MINUTES"],
        cfg["HOLD_MAX_TTL_MINUTES"],
        cfg["CHECKOUT_PRICE_DRIFT_TOLERANCE_PERCENT"],
    )


def _providers() -> list[tuple[str, str]]:
    return [(name, provider_label(name)) for name in current_app.config["PAYMENT_PROVIDERS"]]


def _checkout(public_id: str):
    session = get_session()
    checkout = checkout_service.get_checkout(session, public_id, shopper_key())
    return checkout_service.expire_if_due(session, checkout)


@bp.errorhandler(CheckoutError)
def checkout_error(exc: CheckoutError):
    """A friendly page, an HTMX fragment or JSON, as the request asks."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    if best == "application/json":
        body = {
            "error": exc.message,
            "phase": str(exc.phase),
            "checkout": exc.checkout_id,
            "short": [s.__dict__ for s in exc.shortfalls],
        }
        return make_response(jsonify(body), exc.status_code)
    return render_page("checkout/error.html", block="error", error=exc, status=exc.status_code)


def _render_form(form: CheckoutForm, status: int = 200, chosen: int | None = None):
    session = get_session()
    cart = cart_service.cart_view(session, current_cart_id(), current_app.config["SHOP_CURRENCY"])
    saved = (
        addresses.addresses_of(session, current_user.id) if current_user.is_authenticated else []
    )
    return render_page(
        "checkout/start.html", form=form, cart=cart, saved=saved, chosen=chosen, status=status
    )


def _prefill(form: CheckoutForm, chosen: int | None) -> None:
    """A logged-in shopper's name, email and address (the saved one picked with
    ``?address=ID``, else their default or last used); the shop's country otherwise."""
    if current_user.is_authenticated:
        form.email.data, form.full_name.data = current_user.email, current_user.name
        filled = addresses.prefill(get_session(), current_user.id, chosen)
        for name, value in (filled or {}).items():
            if hasattr(form, name):
                getattr(form, name).data = value
    elif hasattr(form, "save_address"):
        form.save_address.data = False
    if not form.country.data:
        form.country.data = countries.default_country(current_app.config.get("SHOP_COUNTRY"))


def _cart():
    return cart_service.cart_view(
        get_session(), current_cart_id(), current_app.config["SHOP_CURRENCY"]
    )


def _form_for(cart):
    return CheckoutForm() if cart.needs_shipping else DigitalCheckoutForm()


@bp.get("")
def start_form():
    cart = _cart()
    if not cart.lines:  # the cart page says so itself, with a way back to the catalogue
        return redirect(url_for("cart.show"), code=303)
    form = _form_for(cart)
    chosen = request.args.get("address", type=int)
    _prefill(form, chosen)
    return _render_form(form, chosen=chosen)


def _address(form) -> Address:
    if isinstance(form, DigitalCheckoutForm):
        country = form.country.data or countries.default_country(
            current_app.config.get("SHOP_COUNTRY")
        )
        return Address(
            form.email.data.strip().lower(),
            (form.full_name.data or "").strip(),
            "",
            "",
            "",
            country,
        )
    return Address(
        form.email.data.strip().lower(),
        form.full_name.data.strip(),
        form.address_line1.data.strip(),
        form.city.data.strip(),
        form.postal_code.data.strip(),
        form.country.data,
        address_line2=form.address_line2.data or "",
        region=form.region.data or "",
        phone=form.phone.data or "",
    )


@bp.post("")
def start():
    form = _form_for(_cart())
    session = get_session()
    if not form.validate():
        return _render_form(form, status=422)
    cart_id = current_cart_id()
    if cart_id is None:
        raise CheckoutError(Phase.CART_VALIDATION, "Your cart is empty.", status_code=400)
    address = _address(form)
    user_id = current_user.id if current_user.is_authenticated else None
    rate_id, code = checkout_service.choices_of_active(session, cart_id)
    checkout = checkout_service.start_checkout(
        session,
        cart_id,
        address,
        owner_key=shopper_key(),
        user_id=user_id,
        settings=settings(),
        max_per_line=current_app.config["CART_MAX_QUANTITY_PER_LINE"],
    )
    if user_id is not None and checkout.needs_shipping and form.save_address.data:
        addresses.save_address(session, user_id, address)
    _carry_over(checkout, rate_id, code)
    return redirect(url_for("checkout.review", public_id=checkout.public_id), code=303)


def _carry_over(checkout, rate_id: int | None, code: str) -> None:
    """The new checkout keeps the shipping choice and code of the one it replaced."""
    note = adjust.carry_over(get_session(), checkout.id, rate_id=rate_id, code=code)
    if note:
        flash(note, "error")


def _render_review(checkout, status: int = 200, **errors):
    rows = totals.load(get_session(), checkout)  # read once for the drift and the rates
    drift = review_service.price_drift(get_session(), checkout, rows)
    variant_ids = [line.variant_id for line in checkout.lines]
    return render_page(
        "checkout/review.html",
        checkout=checkout,
        thumbs=thumbnails.for_variants(get_session(), variant_ids),
        drift=drift,
        needs_confirmation=drift.needs_confirmation(settings().drift_tolerance_percent),
        rate_options=totals.rate_options(get_session(), checkout, rows),
        providers=_providers(),
        form=ActionForm(),
        max_extensions=1,
        status=status,
        **errors,
    )


@bp.get("/<public_id>")
def review(public_id: str):
    checkout = _checkout(public_id)
    if checkout.state is CheckoutState.COMPLETED:
        order = orders.order_for_checkout(get_session(), checkout.id)
        return redirect(url_for("orders.show", number=order.number), code=303)
    return _render_review(checkout)


@bp.post("/<public_id>/shipping")
def shipping(public_id: str):
    form = ShippingChoiceForm()
    checkout = _checkout(public_id)
    if not form.validate():
        return _render_review(checkout, 422, shipping_error="Choose one of the shipping options.")
    try:
        adjust.choose_shipping(get_session(), checkout.id, form.rate_id.data)
    except adjust.AdjustError as exc:
        return _render_review(_checkout(public_id), exc.status_code, shipping_error=exc.message)
    return redirect(url_for("checkout.review", public_id=public_id), code=303)


@bp.post("/<public_id>/discount")
def apply_discount(public_id: str):
    form = DiscountCodeForm()
    checkout = _checkout(public_id)
    text = (form.code.data or "").strip()
    try:
        if not form.validate():
            raise adjust.AdjustError("Enter a discount code of at most 40 characters.")
        adjust.apply_code(get_session(), checkout.id, text)
    except (adjust.AdjustError, DiscountError) as exc:
        status = 409 if isinstance(exc, Conflict) else 422
        return _render_review(_checkout(public_id), status, code_error=exc.message, code_text=text)
    return redirect(url_for("checkout.review", public_id=public_id), code=303)


@bp.post("/<public_id>/discount/remove")
def remove_discount(public_id: str):
    ActionForm().validate()
    checkout = _checkout(public_id)
    adjust.remove_code(get_session(), checkout.id)
    return redirect(url_for("checkout.review", public_id=public_id), code=303)


@bp.get("/<public_id>/countdown")
def countdown(public_id: str):
    checkout = _checkout(public_id)
    return render_page(
        "checkout/review.html",
        block="countdown",
        checkout=checkout,
        form=ActionForm(),
        max_extensions=1,
    )


@bp.post("/<public_id>/extend")
def extend(public_id: str):
    ActionForm().validate()
    checkout = _checkout(public_id)
    checkout = review_service.extend_checkout(get_session(), checkout.id, settings=settings())
    if wants_fragment():
        return render_page(
            "checkout/review.html",
            block="countdown",
            checkout=checkout,
            form=ActionForm(),
            max_extensions=1,
            notice="Hold extended.",
        )
    flash("We have extended your hold.", "success")
    return redirect(url_for("checkout.review", public_id=public_id), code=303)


@bp.post("/<public_id>/confirm-prices")
def confirm_prices(public_id: str):
    form = ConfirmPricesForm()
    checkout = _checkout(public_id)
    if not form.validate():
        flash("Please review the new total again.", "error")
    else:
        review_service.confirm_new_prices(get_session(), checkout.id, form.seen_total_cents.data)
        flash("New total confirmed.", "success")
    return redirect(url_for("checkout.review", public_id=public_id), code=303)


@bp.post("/<public_id>/pay")
def pay(public_id: str):
    form = PayForm()
    checkout = _checkout(public_id)
    name = form.payment_provider.data if form.validate() else None
    if name not in current_app.config["PAYMENT_PROVIDERS"]:
        raise CheckoutError(
            Phase.PAYMENT_AUTHORIZATION,
            "Choose one of the payment methods offered.",
            status_code=422,
            checkout_id=public_id,
        )
    urls = Urls(
        url_for("checkout.returned", public_id=public_id, _external=True),
        url_for("checkout.review", public_id=public_id, _external=True),
    )
    try:
        approval_url = authorize_payment(
            get_session(),
            checkout.id,
            get_provider(name, current_app.config),
            urls,
            settings=settings(),
        )
    except PriceDriftError:
        flash(
            "Prices changed since you started checking out; please confirm the new total.", "error"
        )
        return redirect(url_for("checkout.review", public_id=public_id), code=303)
    return redirect(approval_url, code=303)


@bp.post("/<public_id>/retry")
def retry(public_id: str):
    ActionForm().validate()
    old = _checkout(public_id)
    cart_id = current_cart_id()
    if cart_id is None:
        return redirect(url_for("cart.show"), code=303)
    checkout = checkout_service.start_checkout(
        get_session(),
        cart_id,
        Address.of(old),
        owner_key=shopper_key(),
        user_id=old.user_id,
        settings=settings(),
        max_per_line=current_app.config["CART_MAX_QUANTITY_PER_LINE"],
    )
    _carry_over(checkout, old.shipping_rate_id, old.discount_code)
    return redirect(url_for("checkout.review", public_id=checkout.public_id), code=303)


@bp.get("/<public_id>/return")
def returned(public_id: str):
    """The shopper is back from the provider. The query string is never trusted: the provider
    is asked (or its signature over the parameters verified)."""
    checkout = _checkout(public_id)
    payment = completion.latest_payment(get_session(), checkout.id)
    if payment is None:
        return redirect(url_for("checkout.review", public_id=public_id), code=303)
    provider = get_provider(payment.provider, current_app.config)
    try:
        state = completion.verify_return(
            get_session(), provider, payment.provider_ref, request.args.to_dict()
        )
    except InvalidSignature as exc:
        raise CheckoutError(
            Phase.PAYMENT_CAPTURE,
            "We could not confirm that payment from the link you followed. If "
            "you paid, your order will be confirmed by the provider shortly.",
            status_code=400,
            checkout_id=public_id,
        ) from exc
    except ProviderError:  # the provider is unreachable: the webhook or reconciliation finishes
        return _answer(public_id, outcomes.Completion("pending", "Confirming your payment…"))
    result = completion.complete_payment(
        get_session(),
        provider,
        payment.provider_ref,
        source="return",
        state=state,
        links=orders.OrderLinks.from_config(current_app.config),
    )
    return _answer(public_id, result)


@bp.get("/<public_id>/status")
def status(public_id: str):
    """Polled by the 'confirming your payment' page until the payment settles."""
    checkout = _checkout(public_id)
    return _answer(public_id, outcomes.outcome_of(get_session(), checkout.id))


def _answer(public_id: str, result: outcomes.Completion):
    if result.outcome == "completed" and result.order_number:
        target = url_for("orders.show", number=result.order_number)
        if wants_fragment():
            response = make_response("", 200)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target, code=303)
    return render_page(
        "checkout/settling.html",
        block="settling",
        result=result,
        public_id=public_id,
        form=ActionForm(),
        status=200 if result.outcome in ("pending", "in_progress") else 409,
    )
