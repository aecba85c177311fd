"""The cart: view, add, change. HTMX requests get fragments (lines, badge out of band);
plain form posts get redirects, so everything works without JavaScript."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, url_for

from app.db import get_session
from app.extensions import csrf
from app.forms import AddToCartForm, UpdateCartForm
from app.services.checkout import cart as cart_service
from app.services.errors import DomainError
from app.web import (
    current_cart_id,
    referrer_path,
    render_page,
    safe_next,
    same_origin_without_token,
    wants_fragment,
)

bp = Blueprint("cart", __name__, url_prefix="/cart")


def _view():
    return cart_service.cart_view(
        get_session(), current_cart_id(), current_app.config["SHOP_CURRENCY"]
    )


def _summary():
    """Enough of the cart for the add-to-cart answer and its badge (one query)."""
    return cart_service.cart_summary(get_session(), current_cart_id())


def _first_error(form) -> str:
    for errors in form.errors.values():
        if errors:
            return errors[0]
    return "That request was not understood."


@bp.get("", strict_slashes=False)
def show():
    return render_page("cart/cart.html", block="cart_body", cart=_view(), form=UpdateCartForm())


def _refused(message: str, status: int, back: str):
    """Refuse with a 4xx: the message in place for HTMX, or a page with a way back."""
    return render_page(
        "cart/result.html",
        block="result",
        ok=False,
        message=message,
        cart=_summary(),
        back=back,
        status=status,
    )


@bp.post("/add")
@csrf.exempt  # checked here: a token, or a same-origin post from a public page (no token)
def add():
    if not same_origin_without_token():
        csrf.protect()
    form = AddToCartForm(meta={"csrf": False})
    back = safe_next(request.form.get("next") or referrer_path(), url_for("cart.show"))
    if not form.validate():
        return _refused(_first_error(form), 422, back)
    try:
        change = cart_service.add_item(
            get_session(),
            current_cart_id(create=True),
            form.variant_id.data,
            form.quantity.data,
            max_per_line=current_app.config["CART_MAX_QUANTITY_PER_LINE"],
        )
    except DomainError as exc:
        return _refused(exc.message, exc.status_code if exc.status_code != 400 else 409, back)
    message = "Added to your cart."
    if change.notice:
        flash(change.notice, "info")
    if wants_fragment():
        return render_page(
            "cart/result.html", block="result", ok=True, message=message, cart=_summary()
        )
    flash(message, "success")
    return redirect(url_for("cart.show"), code=303)


@bp.post("/update")
def update():
    form = UpdateCartForm()
    if not form.validate():
        return _update_refused(_first_error(form), 422, form.variant_id.data)
    try:
        change = cart_service.set_quantity(
            get_session(),
            current_cart_id(create=True),
            form.variant_id.data,
            form.quantity.data,
            max_per_line=current_app.config["CART_MAX_QUANTITY_PER_LINE"],
        )
    except DomainError as exc:
        status = exc.status_code if exc.status_code != 400 else 409
        return _update_refused(exc.message, status, form.variant_id.data)
    message = "Removed from your cart." if form.quantity.data == 0 else "Cart updated."
    if change.notice:
        message = f"{message} {change.notice}"
    if wants_fragment():
        return render_page(
            "cart/cart.html", block="cart_body", cart=_view(), form=UpdateCartForm(), notice=message
        )
    flash(message, "success")
    return redirect(url_for("cart.show"), code=303)


def _update_refused(message: str, status: int, variant_id: int | None):
    """Refuse with a 4xx and the cart as it was: the message sits beside the line it is about
    (the whole page without JavaScript, the cart body for an HTMX swap)."""
    return render_page(
        "cart/cart.html",
        block="cart_body",
        cart=_view(),
        form=UpdateCartForm(),
        error=message,
        error_for=variant_id,
        status=status,
    )
