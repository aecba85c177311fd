"""The shopper's order pages: the order with its timeline and keys, cancelling, returns, and
"send me a new link".

Only the buyer sees an order: the account that placed it, the browser that checked it out, or
whoever holds an open link from the order's emails (``?t=``, ``order_book.OrderLinks``: timed,
and withdrawn by the shop). Anyone else gets a 404; a link that expired or was withdrawn gets
a page that offers a new one. Someone who came only through a link types the order's email
before cancelling or returning.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user

from app.db import get_session
from app.forms import OrderActionForm, OrderLinkForm, ReturnForm
from app.providers import get_provider
from app.services.checkout import thumbnails
from app.services.errors import DomainError
from app.services.orders import aftersales, price_view, shopper_words
from app.services.orders import order_book as orders
from app.services.stock import keys
from app.web import render_page, shopper_key

bp = Blueprint("orders", __name__, url_prefix="/orders")

SENT = "If that order and email match, we have sent a new link to that address."


def _links() -> orders.OrderLinks:
    return orders.OrderLinks.from_config(current_app.config)


def _private(response):
    response.headers["Cache-Control"] = "private, no-store"  # it may show license keys
    response.headers["Referrer-Policy"] = "no-referrer"  # keep the signed link to ourselves
    return response


def _open(number: str, token: str | None) -> orders.Access:
    """The order for its buyer; raises ``NotFound`` (404) or ``LinkRefused`` (410/404)."""
    return orders.open_order(
        get_session(),
        number,
        user_id=current_user.id if current_user.is_authenticated else None,
        owner_key=shopper_key(),
        token=token,
        links=_links(),
    )


def _refused(exc: orders.LinkRefused, number: str):
    """The page of a link that does not open its order, with the new-link form."""
    form = OrderLinkForm(number=number if len(number) <= 20 else "")
    page = render_page(
        "orders/link.html",
        form=form,
        refused=exc,
        days=_links().days,
        status=exc.status_code,
    )
    return _private(page)


def _page(access: orders.Access, token: str | None, status: int = 200, error: str | None = None):
    order, session = access.order, get_session()
    page = render_page(
        "orders/order.html",
        order=order,
        token=token,
        by_link=access.by_link,
        shown_email=orders.masked_email(order.email) if access.by_link else order.email,
        error=error,
        words=shopper_words.describe(order, by_link=access.by_link),
        prices=price_view.for_order(order),
        delivered=keys.keys_for_lines(session, [line.id for line in order.lines]),
        thumbs=thumbnails.for_variants(session, [line.variant_id for line in order.lines]),
        can_cancel=aftersales.can_cancel(session, order),
        returnable=aftersales.returnable_lines(order),
        action_form=OrderActionForm(t=token),
        return_form=ReturnForm(t=token),
        status=status,
    )
    return _private(page)


def _checked(number: str, token: str | None, typed: str | None):
    """``(access, None)`` when this visitor may change the order; ``(None, the answer)`` when
    their link does not open it or, come by link, they typed another email (403, nothing
    changed). An order they may not see at all is a 404 (``NotFound``)."""
    try:
        access = _open(number, token)
    except orders.LinkRefused as exc:
        return None, _refused(exc, number)
    try:
        orders.confirm_guest_email(access, typed)
    except DomainError as exc:
        return None, _page(access, token, exc.status_code, exc.message)
    return access, None


def _back(number: str, token: str | None):
    return redirect(url_for("orders.show", number=number, t=token or None), code=303)


@bp.route("/link", methods=["GET", "POST"])
def request_link():
    """Send me a new link: the same answer whether or not the order and email match."""
    form, days = OrderLinkForm(), _links().days
    if request.method == "GET":
        return _private(render_page("orders/link.html", form=form, days=days))
    if not form.validate():
        return _private(render_page("orders/link.html", form=form, days=days, status=422))
    orders.send_new_link(get_session(), form.number.data, form.email.data, links=_links())
    return _private(render_page("orders/link.html", form=form, days=days, sent=SENT))


@bp.get("/<number>")
def show(number: str):
    token = request.args.get("t")
    try:
        access = _open(number, token)
    except orders.LinkRefused as exc:
        return _refused(exc, number)
    return _page(access, token)


@bp.post("/<number>/cancel")
def cancel(number: str):
    form = OrderActionForm()
    form.validate()
    token = form.t.data
    access, refusal = _checked(number, token, form.email.data)
    if refusal is not None:
        return refusal
    config = current_app.config
    try:
        aftersales.cancel_order(
            get_session(),
            lambda name: get_provider(name, config),
            access.order.number,
            actor=access.order.email,
            links=_links(),
        )
    except DomainError as exc:
        flash(exc.message, "error")
        return _back(number, token)
    flash("Your order is cancelled and your payment refunded in full.", "success")
    return _back(number, token)


@bp.post("/<number>/return")
def request_return(number: str):
    form = ReturnForm()
    token = form.t.data
    access, refusal = _checked(number, token, form.email.data)
    if refusal is not None:
        return refusal
    if not form.validate():
        flash(next(iter(form.errors.values()))[0], "error")
        return _back(number, token)
    try:
        aftersales.request_return(
            get_session(),
            access.order.number,
            form.line_id.data,
            form.quantity.data,
            form.reason.data,
            actor=access.order.email,
        )
    except DomainError as exc:
        flash(exc.message, "error")
        return _back(number, token)
    flash("Your return request is recorded. We will email you when it arrives.", "success")
    return _back(number, token)
