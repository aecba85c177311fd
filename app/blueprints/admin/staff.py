"""The admin's staff page (the owner's only): who runs the shop, inviting someone by email,
changing a role, deactivating and reactivating an account."""

from __future__ import annotations

from flask import current_app, flash, redirect, url_for
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import AnyOf, DataRequired, Email, Length

from app.db import get_session
from app.models import Role
from app.services.admin import people
from app.services.errors import Conflict, DomainError
from app.web import render_page

from .base import actor, bp, require


class InviteForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter the email to invite."),
            Length(max=254),
            Email("Enter a valid email address.", check_deliverability=False),
        ],
    )


class RoleForm(FlaskForm):
    role = StringField("Role", validators=[AnyOf([r.value for r in Role])])


class ActiveForm(FlaskForm):
    """Deactivate or reactivate: only its CSRF token; the URL says which."""


def _back():
    return redirect(url_for("admin.staff"), code=303)


@bp.get("/staff")
def staff():
    require("manage_staff")
    return render_page(
        "admin/staff.html",
        people=people.list_staff(get_session()),
        invite_form=InviteForm(),
        role_form=RoleForm(),
        roles=list(Role),
        active_form=ActiveForm(),
    )


@bp.post("/staff/invite")
def invite_staff():
    require("manage_staff")
    form = InviteForm()
    if not form.validate():
        flash(next(iter(form.errors.values()))[0], "error")
        return _back()
    base_url = current_app.config["SHOP_BASE_URL"]
    try:
        found = people.invite(get_session(), form.email.data, actor=actor(), base_url=base_url)
    except DomainError as exc:
        flash(exc.message, "error")
        return _back()
    how = "invited" if found.created else "made staff"
    flash(
        f"{found.user.email} is {how}; an email with a link to set a password is on its way.",
        "success",
    )
    return _back()


@bp.post("/staff/<int:user_id>/role")
def change_role(user_id: int):
    require("manage_staff")
    form = RoleForm()
    if not form.validate():
        flash("Choose customer, staff or owner.", "error")
        return _back()
    try:
        changed = people.change_role(get_session(), user_id, Role(form.role.data), actor=actor())
    except Conflict as exc:
        flash(exc.message, "error")
        return _back()
    flash("The role is changed." if changed else "That is already their role.", "success")
    return _back()


def _set_active(user_id: int, active: bool):
    require("manage_staff")
    try:
        changed = people.set_active(get_session(), user_id, active, actor=actor())
    except Conflict as exc:
        flash(exc.message, "error")
        return _back()
    if not changed:
        flash("Nothing to change.", "info")
    elif active:
        flash("The account is active again.", "success")
    else:
        flash("The account is deactivated: it is signed out and cannot log in.", "success")
    return _back()


@bp.post("/staff/<int:user_id>/deactivate")
def deactivate_staff(user_id: int):
    return _set_active(user_id, False)


@bp.post("/staff/<int:user_id>/reactivate")
def reactivate_staff(user_id: int):
    return _set_active(user_id, True)
