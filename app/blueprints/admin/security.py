"""The admin's security page: failed log-ins and locked accounts, and unlocking one."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_wtf import FlaskForm

from app.db import get_session
from app.services.admin import people
from app.web import render_page

from .base import actor, bp, require


class UnlockForm(FlaskForm):
    """Unlock: only its CSRF token (CSRFProtect checks it on every POST)."""


@bp.get("/security")
def security():
    page = people.failed_logins(get_session(), request.args.get("page", 1, type=int))
    return render_page(
        "admin/security.html", page=page, is_locked=people.is_locked, form=UnlockForm(), args={}
    )


@bp.post("/security/<int:user_id>/unlock")
def unlock(user_id: int):
    require("unlock")
    if people.unlock(get_session(), user_id, actor=actor()):
        flash("The account is unlocked: its failed log-ins are cleared.", "success")
    else:
        flash("That account was not locked.", "info")
    return redirect(url_for("admin.security"), code=303)
