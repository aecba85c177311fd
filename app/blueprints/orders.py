"""The shopper's order page."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, request
from flask_login import current_user

from app.db import get_session
from app.services import keys, orders
from app.services.errors import NotFound
from app.web import render_page, shopper_key

bp = Blueprint("orders", __name__, url_prefix="/orders")


@bp.get("/<number>")
def show(number: str):
    signed = orders.OrderLinks.from_config(current_app.config).verify(
        number, request.args.get("t"))
    session = get_session()
    try:
        order = orders.get_order_for(
            session, number,
            user_id=current_user.id if current_user.is_authenticated else None,
            owner_key=shopper_key(), signed=signed,
        )
    except NotFound:
        abort(404)
    delivered = keys.keys_for_lines(session, [line.id for line in order.lines])
    response = render_page("orders/order.html", order=order, delivered=delivered)
    response.headers["Cache-Control"] = "private, no-store"  # it may show license keys
    response.headers["Referrer-Policy"] = "no-referrer"  # keep the signed link to ourselves
    return response
