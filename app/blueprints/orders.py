"""The shopper's order pages: the order with its timeline and keys, cancelling, returns.

Only the buyer sees an order: the account that placed it, the browser that checked it out, or
whoever holds the signed link from the order's emails (``?t=``). Anyone else gets a 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user

from app.db import get_session
from app.forms import OrderActionForm, ReturnForm
from app.models import Order
from app.providers import get_provider
from app.services.errors import DomainError, NotFound
from app.services.orders import aftersales
from app.services.orders import order_book as orders
from app.services.stock import keys
from app.web import render_page, shopper_key

bp = Blueprint("orders", __name__, url_prefix="/orders")


def _order(number: str, token: str | None) -> Order:
    signed = orders.OrderLinks.from_config(current_app.config).verify(number, token)
    try:
        return orders.get_order_for(
            get_session(),
            number,
            user_id=current_user.id if current_user.is_authenticated else None,
            owner_key=shopper_key(),
            signed=signed,
        )
    except NotFound:
        abort(404)


def _back(number: str, token: str | None):
    return redirect(url_for("orders.show", number=number, t=token or None), code=303)


@bp.get("/<number>")
def show(number: str):
    token = request.args.get("t")
    order = _order(number, token)
    session = get_session()
    response = render_page(
        "orders/order.html",
        order=order,
        token=token,
        delivered=keys.keys_for_lines(session, [line.id for line in order.lines]),
        can_cancel=aftersales.can_cancel(session, order),
        returnable=aftersales.returnable_lines(order),
        action_form=OrderActionForm(t=token),
        return_form=ReturnForm(t=token),
    )
    response.headers["Cache-Control"] = "private, no-store"  # it may show license keys
    response.headers["Referrer-Policy"] = "no-referrer"  # keep the signed link to ourselves
    return response


@bp.post("/<number>/cancel")
def cancel(number: str):
    form = OrderActionForm()
    form.validate()
    order = _order(number, form.t.data)
    config = current_app.config
    try:
        aftersales.cancel_order(
            get_session(),
            lambda name: get_provider(name, config),
            order.number,
            actor=order.email,
            links=orders.OrderLinks.from_config(config),
        )
    except DomainError as exc:
        flash(exc.message, "error")
        return _back(number, form.t.data)
    flash("Your order is cancelled and your payment refunded in full.", "success")
    return _back(number, form.t.data)


@bp.post("/<number>/return")
def request_return(number: str):
    form = ReturnForm()
    order = _order(number, form.t.data)
    if not form.validate():
        flash(next(iter(form.errors.values()))[0], "error")
        return _back(number, form.t.data)
    try:
        aftersales.request_return(
            get_session(),
            order.number,
            form.line_id.data,
            form.quantity.data,
            form.reason.data,
            actor=order.email,
        )
    except DomainError as exc:
        flash(exc.message, "error")
        return _back(number, form.t.data)
    flash("Your return request is recorded. We will email you when it arrives.", "success")
    return _back(number, form.t.data)
