"""The admin's order desk: orders listed and filtered, one order's story, and its actions."""

from __future__ import annotations

import secrets
from datetime import date

from flask import abort, current_app, flash, redirect, request, url_for

from app.db import get_session
from app.forms import CancelForm, RefundForm, ShipForm
from app.jobs import retry_fulfilment_with
from app.models import OrderStatus
from app.money import parse_money
from app.providers import get_provider
from app.services.admin import order_desk
from app.services.errors import DomainError, NotFound
from app.services.orders import aftersales, price_view, refunds
from app.services.orders.order_book import OrderLinks
from app.web import render_page

from .base import actor, bp, may, require


def _back(number: str):
    return redirect(url_for("admin.order", number=number), code=303)


def _filters() -> order_desk.OrderFilter:
    args = request.args
    status = args.get("status") or None
    if status is not None and status not in OrderStatus.__members__.values():
        raise DomainError(f"There is no order status {status!r}.")
    try:
        day = date.fromisoformat(args["day"]) if args.get("day") else None
    except ValueError:
        raise DomainError("Enter the day as YYYY-MM-DD.") from None
    return order_desk.OrderFilter(
        status=OrderStatus(status) if status else None,
        to_ship=args.get("to_ship") == "1",
        waiting=args.get("waiting") == "1",
        day=day,
        q=args.get("q", "")[:100],
    )


@bp.get("/orders")
def orders():
    filters = _filters()
    page = order_desk.list_orders(get_session(), filters, request.args.get("page", 1, type=int))
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_page(
        "admin/orders.html",
        block="results",
        page=page,
        filters=filters,
        args=args,
        statuses=list(OrderStatus),
    )


@bp.get("/orders/<number>")
def order(number: str):
    session = get_session()
    try:
        found = order_desk.get_order(session, number)
    except NotFound:
        abort(404)
    return render_page(
        "admin/order.html",
        order=found,
        payments=order_desk.payments_of(session, found),
        refunds=order_desk.refunds_of(session, found),
        prices=price_view.for_order(found),
        timeline=order_desk.timeline(session, found),
        can_refund=may("refund"),
        actions=order_desk.actions_for(session, found),
        ship_form=ShipForm(),
        cancel_form=CancelForm(),
        refund_form=RefundForm(key=secrets.token_hex(16)),
        guest_link_days=current_app.config["GUEST_LINK_DAYS"],
    )


@bp.post("/orders/<number>/ship")
def ship(number: str):
    require("ship")
    form = ShipForm()
    if not form.validate():
        flash(next(iter(form.errors.values()))[0], "error")
        return _back(number)
    try:
        aftersales.ship_order(
            get_session(),
            number,
            carrier=form.carrier.data,
            tracking=form.tracking.data,
            actor=actor(),
            links=OrderLinks.from_config(current_app.config),
        )
    except DomainError as exc:
        flash(exc.message, "error")
        return _back(number)
    flash(
        f"Order {number} is marked shipped; the shopper is emailed the tracking number.", "success"
    )
    return _back(number)


@bp.post("/orders/<number>/cancel")
def cancel(number: str):
    require("cancel")
    form = CancelForm()
    form.validate()
    config = current_app.config
    try:
        aftersales.cancel_order(
            get_session(),
            lambda name: get_provider(name, config),
            number,
            actor=actor(),
            links=OrderLinks.from_config(config),
            reason=form.reason.data or "cancelled by the shop",
        )
    except DomainError as exc:
        flash(exc.message, "error")
        return _back(number)
    flash(f"Order {number} is cancelled and refunded in full.", "success")
    return _back(number)


@bp.post("/orders/<number>/refund")
def refund(number: str):
    require("refund")
    form = RefundForm()
    config = current_app.config
    if not form.validate():
        flash(next(iter(form.errors.values()))[0], "error")
        return _back(number)
    try:
        amount = parse_money(form.amount.data, config["SHOP_CURRENCY"])
    except ValueError as exc:
        flash(str(exc), "error")
        return _back(number)
    try:
        refunds.refund_order(
            get_session(),
            lambda name: get_provider(name, config),
            number,
            amount_cents=amount,
            reason=form.reason.data,
            actor=actor(),
            idempotency_key=f"admin-refund-{form.key.data}",
            links=OrderLinks.from_config(config),
        )
    except DomainError as exc:
        flash(exc.message, "error")
        return _back(number)
    flash(f"Refund recorded for order {number}; the shopper is emailed.", "success")
    return _back(number)


@bp.post("/orders/<number>/retry-fulfilment")
def retry_fulfilment(number: str):
    require("retry_fulfilment")
    session = get_session()
    try:
        found = order_desk.get_order(session, number)
    except NotFound:
        abort(404)
    filled = retry_fulfilment_with(session, current_app.config)
    order_desk.note_action(session, found, "order.fulfilment_retried", actor(), filled=filled)
    if number in filled:
        flash(f"More of order {number} was delivered.", "success")
    else:
        flash(f"Nothing more of order {number} can be delivered yet.", "info")
    return _back(number)


@bp.post("/orders/<number>/withdraw-links")
def withdraw_links(number: str):
    """Links in the order's emails so far stop opening it (a forwarded or leaked email)."""
    require("withdraw_links")
    try:
        order_desk.withdraw_guest_links(get_session(), number, actor=actor())
    except NotFound:
        abort(404)
    flash(
        f"Links in the emails of order {number} no longer open it. The shopper can ask for "
        "a new link, which goes to the order's email only.",
        "success",
    )
    return _back(number)
