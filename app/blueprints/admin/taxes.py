"""The owner's tax rates: listed with the shop's tax mode (prices entered with or without tax,
a setting), created, edited and deleted through ``services.admin.tax_desk``. A refused entry
re-renders the form with its message (422) and changes nothing."""

from __future__ import annotations

from flask import flash, redirect, url_for

from app.db import get_session
from app.forms import ActionForm
from app.models import TaxRate
from app.services.admin import settings as shop_settings
from app.services.admin import tax_desk as desk
from app.services.errors import DomainError
from app.web import render_page

from .base import actor, bp, require
from .catalogue import first_error
from .selling_forms import TaxForm


def _tax_input(form: TaxForm) -> desk.TaxInput:
    if not form.validate():
        raise DomainError(first_error(form))
    return desk.TaxInput(
        form.name.data or "",
        form.country.data,
        form.region.data or "",
        desk.parse_percent(form.percent.data),
        bool(form.applies_to_shipping.data),
    )


def _taxes_page(form=None, error=None, status=200):
    session = get_session()
    return render_page(
        "admin/taxes.html",
        status=status,
        rates=desk.list_rates(session),
        include_tax=shop_settings.get_setting(session, "prices_include_tax"),
        form=form or TaxForm(),
        action_form=ActionForm(),
        error=error,
        percent_text=desk.percent_text,
        place_name=desk.place_name,
    )


@bp.get("/taxes")
def taxes():
    require("taxes")
    return _taxes_page()


@bp.post("/taxes")
def tax_create():
    require("taxes")
    form = TaxForm()
    try:
        rate = desk.create_rate(get_session(), _tax_input(form), actor=actor())
    except DomainError as exc:
        return _taxes_page(form, exc.message, 422)
    flash(f"The tax rate for {desk.place_name(rate)} is added.", "success")
    return redirect(url_for("admin.taxes"), code=303)


def _edit_form(rate: TaxRate) -> TaxForm:
    form = TaxForm(obj=rate)
    form.percent.data = desk.percent_text(rate.percent_thousandths)
    return form


def _tax_page(rate_id: int, form=None, error=None, status=200):
    rate = desk.get_rate(get_session(), rate_id)
    return render_page(
        "admin/tax_rate.html",
        status=status,
        rate=rate,
        form=form or _edit_form(rate),
        error=error,
        place_name=desk.place_name,
    )


@bp.get("/taxes/<int:tax_id>")
def tax_rate(tax_id: int):
    require("taxes")
    return _tax_page(tax_id)


@bp.post("/taxes/<int:tax_id>")
def tax_update(tax_id: int):
    require("taxes")
    form = TaxForm()
    try:
        changed = desk.update_rate(get_session(), tax_id, _tax_input(form), actor=actor())
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        return _tax_page(tax_id, form, exc.message, 422)
    flash("Saved." if changed else "Nothing changed.", "success" if changed else "info")
    return redirect(url_for("admin.taxes"), code=303)


@bp.post("/taxes/<int:tax_id>/delete")
def tax_delete(tax_id: int):
    require("taxes")
    where = desk.delete_rate(get_session(), tax_id, actor=actor())
    flash(f"The tax rate for {where} is deleted.", "success")
    return redirect(url_for("admin.taxes"), code=303)
