"""The owner's shipping page: zones with their places and rates; a zone's own page to edit it
and add rates; a rate's page to edit it. Each view parses its form, calls one service
(``services.admin.shipping_desk``) and renders, or flashes and redirects (303). A refused entry
re-renders the form with its message (422) and changes nothing."""

from __future__ import annotations

from flask import current_app, flash, redirect, url_for

from app.db import get_session
from app.forms import ActionForm
from app.models import RateKind, ShippingRate
from app.money import parse_money, plain_decimal
from app.services.admin import shipping_desk as desk
from app.services.errors import DomainError
from app.web import render_page

from .base import actor, bp, require
from .catalogue import first_error
from .selling_forms import RateForm, ZoneForm


def _currency() -> str:
    return current_app.config["SHOP_CURRENCY"]


def _to_zone(zone_id: int):
    return redirect(url_for("admin.shipping_zone", zone_id=zone_id), code=303)


def _zone_input(form: ZoneForm) -> desk.ZoneInput:
    if not form.validate():
        raise DomainError(first_error(form))
    places = desk.parse_places(form.places.data)
    return desk.ZoneInput(form.name.data, places, bool(form.rest_of_world.data))


def _money(text: str | None, label: str) -> int | None:
    if not (text or "").strip():
        return None
    try:
        return parse_money(text, _currency())
    except ValueError as exc:
        raise DomainError(f"{label}: {exc}") from None


def _rate_input(form: RateForm) -> desk.RateInput:
    if not form.validate():
        raise DomainError(first_error(form))
    kind = RateKind(form.kind.data)
    price = _money(form.price.data, "Flat price")
    if kind is RateKind.FLAT and price is None:
        raise DomainError("Enter the flat price, such as 5.00 (0 for free).")
    bands = desk.parse_bands(form.bands.data, _currency()) if kind is RateKind.WEIGHT else ()
    free = _money(form.free_above.data, "Free from")
    return desk.RateInput(form.name.data, kind, price or 0, bands, free)


# ---------------------------------------------------------------- zones


def _shipping_page(form=None, error=None, status=200):
    return render_page(
        "admin/shipping.html",
        status=status,
        zones=desk.list_zones(get_session()),
        form=form or ZoneForm(),
        action_form=ActionForm(),
        error=error,
        currency=_currency(),
        bands_text=desk.bands_text,
        places_text=desk.places_text,
    )


@bp.get("/shipping")
def shipping():
    require("shipping")
    return _shipping_page()


@bp.post("/shipping/zones")
def shipping_zone_create():
    require("shipping")
    form = ZoneForm()
    try:
        zone = desk.create_zone(get_session(), _zone_input(form), actor=actor())
    except DomainError as exc:
        return _shipping_page(form, exc.message, 422)
    flash(f"The zone {zone.name} is created. Give it a rate.", "success")
    return _to_zone(zone.id)


def _zone_page(zone_id: int, *, form=None, rate_form=None, error=None, status=200):
    zone = desk.get_zone(get_session(), zone_id)
    if form is None:
        form = ZoneForm(obj=zone)
        form.places.data = desk.places_text(zone)
    return render_page(
        "admin/shipping_zone.html",
        status=status,
        zone=zone,
        form=form,
        rate_form=rate_form or RateForm(),
        action_form=ActionForm(),
        error=error,
        currency=_currency(),
        bands_text=desk.bands_text,
    )


@bp.get("/shipping/zones/<int:zone_id>")
def shipping_zone(zone_id: int):
    require("shipping")
    return _zone_page(zone_id)


@bp.post("/shipping/zones/<int:zone_id>")
def shipping_zone_update(zone_id: int):
    require("shipping")
    form = ZoneForm()
    try:
        changed = desk.update_zone(get_session(), zone_id, _zone_input(form), actor=actor())
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        return _zone_page(zone_id, form=form, error=exc.message, status=422)
    flash("Saved." if changed else "Nothing changed.", "success" if changed else "info")
    return _to_zone(zone_id)


@bp.post("/shipping/zones/<int:zone_id>/delete")
def shipping_zone_delete(zone_id: int):
    require("shipping")
    name = desk.delete_zone(get_session(), zone_id, actor=actor())
    flash(f"The zone {name} and its rates are deleted.", "success")
    return redirect(url_for("admin.shipping"), code=303)


# ---------------------------------------------------------------- rates


@bp.post("/shipping/zones/<int:zone_id>/rates")
def shipping_rate_create(zone_id: int):
    require("shipping")
    form = RateForm()
    try:
        rate = desk.create_rate(
            get_session(), zone_id, _rate_input(form), currency=_currency(), actor=actor()
        )
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        return _zone_page(zone_id, rate_form=form, error=exc.message, status=422)
    flash(f"The rate {rate.name} is added.", "success")
    return _to_zone(zone_id)


def _rate_form(rate: ShippingRate) -> RateForm:
    form = RateForm(obj=rate)
    form.kind.data = RateKind(rate.kind).value
    form.price.data = plain_decimal(rate.price_cents, rate.currency)
    form.bands.data = desk.bands_text(rate.bands or [], rate.currency)
    free = rate.free_above_cents
    form.free_above.data = "" if free is None else plain_decimal(free, rate.currency)
    return form


def _rate_page(rate_id: int, *, form=None, error=None, status=200):
    rate = desk.get_rate(get_session(), rate_id)
    return render_page(
        "admin/shipping_rate.html",
        status=status,
        rate=rate,
        form=form or _rate_form(rate),
        error=error,
        currency=rate.currency,
    )


@bp.get("/shipping/rates/<int:rate_id>")
def shipping_rate(rate_id: int):
    require("shipping")
    return _rate_page(rate_id)


@bp.post("/shipping/rates/<int:rate_id>")
def shipping_rate_update(rate_id: int):
    require("shipping")
    form = RateForm()
    try:
        changed = desk.update_rate(get_session(), rate_id, _rate_input(form), actor=actor())
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        return _rate_page(rate_id, form=form, error=exc.message, status=422)
    flash("Saved." if changed else "Nothing changed.", "success" if changed else "info")
    return _to_zone(desk.get_rate(get_session(), rate_id).zone_id)


def _set_rate_active(rate_id: int, active: bool):
    require("shipping")
    session = get_session()
    desk.set_rate_active(session, rate_id, active, actor=actor())
    rate = desk.get_rate(session, rate_id)
    word = "offered at checkout" if rate.active else "no longer offered (kept)"
    flash(f"The rate {rate.name} is {word}.", "success")
    return _to_zone(rate.zone_id)


@bp.post("/shipping/rates/<int:rate_id>/activate")
def shipping_rate_activate(rate_id: int):
    return _set_rate_active(rate_id, True)


@bp.post("/shipping/rates/<int:rate_id>/deactivate")
def shipping_rate_deactivate(rate_id: int):
    return _set_rate_active(rate_id, False)


@bp.post("/shipping/rates/<int:rate_id>/delete")
def shipping_rate_delete(rate_id: int):
    require("shipping")
    zone_id = desk.delete_rate(get_session(), rate_id, actor=actor())
    flash("The rate is deleted.", "success")
    return _to_zone(zone_id)
