"""The admin's security page: failed log-ins of the last day (throttled by email and address,
never locking an account) and clearing every wait."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_wtf import FlaskForm

from app.db import get_session
from app.services.admin import people
from app.web import render_page

from .base import actor, bp, require


class ClearForm(FlaskForm):
    """Clear the waits: only its CSRF token (CSRFProtect checks it on every POST)."""


@bp.get("/security")
def security():
    summary = people.login_throttles(get_session())
    return render_page("admin/security.html", summary=summary, form=ClearForm())


@bp.post("/security/throttles/clear")
def clear_throttles():
    require("unlock")
    cleared = people.clear_login_throttles(get_session(), actor=actor())
    if cleared:
        flash(f"Failed log-ins cleared for {cleared} email and address pair(s).", "success")
    else:
        flash("There were no failed log-ins to clear.", "info")
    return redirect(url_for("admin.security"), code=303)
