"""Two read-only lists the dashboard's counts open: stock levels (all, or only what has fallen
to its low-stock threshold) and payments that have not settled."""

from __future__ import annotations

from flask import request

from app.db import get_session
from app.services.admin import payments_desk, stock_desk
from app.web import render_page

from .base import bp


@bp.get("/stock")
def stock():
    low_only = request.args.get("low") == "1"
    rows = stock_desk.stock_list(get_session(), low_only=low_only)
    return render_page("admin/stock.html", rows=rows, low_only=low_only)


@bp.get("/payments")
def payments():
    page = payments_desk.unsettled_payments(get_session(), request.args.get("page", 1, type=int))
    return render_page("admin/payments.html", page=page, args={})
