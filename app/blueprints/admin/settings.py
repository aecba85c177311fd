"""The admin's settings page (the owner's only): the shop's switches, each change audited."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_wtf import FlaskForm

from app.db import get_session
from app.services.admin import settings as shop_settings
from app.web import render_page

from .base import actor, bp, require


class SettingsForm(FlaskForm):
    """The switches are checkboxes named after their keys (every setting is on or off)."""


@bp.get("/settings")
def settings():
    require("settings")
    return render_page(
        "admin/settings.html",
        values=shop_settings.get_settings(get_session()),
        labels={key: label for key, (_default, label) in shop_settings.DEFAULTS.items()},
        form=SettingsForm(),
    )


@bp.post("/settings")
def save_settings():
    require("settings")
    values = {key: request.form.get(key) == "on" for key in shop_settings.DEFAULTS}
    changed = shop_settings.update_settings(get_session(), values, actor=actor())
    flash(
        f"Saved: {len(changed)} setting(s) changed." if changed else "Nothing changed.", "success"
    )
    return redirect(url_for("admin.settings"), code=303)
