"""The shopper's order page."""

from __future__ import annotations

from flask import Blueprint, abort
from flask_login import current_user

from app.db import get_session
from app.services import orders
from app.services.errors import NotFound
from app.web import render_page, shopper_key

bp = Blueprint("orders", __name__, url_prefix="/orders")


@bp.get("/<number>")
def show(number: str):
    try:
        order = orders.get_order_for(
            get_session(), number,
            user_id=current_user.id if current_user.is_authenticated else None,
            owner_key=shopper_key(),
        )
    except NotFound:
        abort(404)
    return render_page("orders/order.html", order=order)
