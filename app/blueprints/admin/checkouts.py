"""Checkouts: how they fared over a period (funnel, failure reasons, success rate, a chart)
and the abandoned ones, with whether a reminder went out."""

from __future__ import annotations

from flask import request

from app.db import get_session
from app.services.admin import checkouts as checkouts_service
from app.services.admin.settings import get_setting
from app.web import render_page

from .base import bp


@bp.get("/checkouts")
def checkouts():
    period = checkouts_service.parse_period(request.args.get("period"))
    session = get_session()
    return render_page(
        "admin/checkouts.html",
        block="results",
        period=period,
        periods=list(checkouts_service.PERIODS),
        report=checkouts_service.report(session, period),
        page=checkouts_service.abandoned(session, period, request.args.get("page", 1, type=int)),
        reminders_on=get_setting(session, "abandoned_reminders"),
        args={"period": period},
    )
