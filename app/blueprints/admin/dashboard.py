"""The admin dashboard: what needs the owner today, then the shop's figures."""

from __future__ import annotations

from flask import current_app

from app.db import get_session
from app.services.admin import dashboard as dashboard_service
from app.web import render_page

from .base import bp


@bp.get("")
def dashboard():
    board = dashboard_service.dashboard(get_session(), current_app.config["SHOP_CURRENCY"])
    return render_page("admin/dashboard.html", board=board)
