"""The owner's discount codes: listed with their uses so far and the uses live checkouts hold,
created (``codes.create_code``), and changed — usage limit, end, active — through
``codes.update_code``, which refuses a limit below what is already claimed. A refused entry
re-renders the form with its message (422) and changes nothing."""

from __future__ import annotations

from flask import current_app, flash, redirect, url_for

from app.db import get_session
from app.forms import ActionForm
from app.models import DiscountKind
from app.money import parse_money
from app.services.admin import discount_desk as desk
from app.services.discounts import codes
from app.services.errors import DomainError
from app.web import render_page

from .base import actor, bp, require
from .catalogue import first_error
from .selling_forms import DiscountEditForm, DiscountForm


def _currency() -> str:
    return current_app.config["SHOP_CURRENCY"]


def _to_code(code_id: int):
    return redirect(url_for("admin.discount", code_id=code_id), code=303)


def _with_products(form: DiscountForm) -> DiscountForm:
    form.products.choices = desk.product_choices(get_session())
    return form


def _min_spend(text: str | None) -> int:
    if not (text or "").strip():
        return 0
    try:
        return parse_money(text, _currency())
    except ValueError as exc:
        raise DomainError(f"Minimum spend: {exc}") from None


def _create(form: DiscountForm):
    if not form.validate():
        raise DomainError(first_error(form))
    kind = DiscountKind(form.kind.data)
    return codes.create_code(
        get_session(),
        form.code.data,
        kind=kind,
        value=desk.parse_value(kind, form.value.data, _currency()),
        currency=_currency() if kind is DiscountKind.FIXED else None,
        product_ids=form.products.data or (),
        min_spend_cents=_min_spend(form.min_spend.data),
        starts_at=form.starts_at.data,
        ends_at=form.ends_at.data,
        once_per_shopper=bool(form.once_per_shopper.data),
        usage_limit=desk.parse_limit(form.usage_limit.data),
        actor=actor(),
    )


def _discounts_page(form=None, error=None, status=200):
    return render_page(
        "admin/discounts.html",
        status=status,
        rows=desk.list_codes(get_session()),
        form=form or _with_products(DiscountForm()),
        error=error,
        value_text=desk.value_text,
        currency=_currency(),
    )


@bp.get("/discounts")
def discounts():
    require("discounts")
    return _discounts_page()


@bp.post("/discounts")
def discount_create():
    require("discounts")
    form = _with_products(DiscountForm())
    try:
        code = _create(form)
    except DomainError as exc:
        return _discounts_page(form, exc.message, 422)
    flash(f"The code {code.code} is created.", "success")
    return redirect(url_for("admin.discounts"), code=303)


def _discount_page(code_id: int, form=None, error=None, status=200):
    row = desk.get_code(get_session(), code_id)
    return render_page(
        "admin/discount.html",
        status=status,
        row=row,
        form=form or DiscountEditForm(obj=row.code),
        action_form=ActionForm(),
        error=error,
        value_text=desk.value_text,
    )


@bp.get("/discounts/<int:code_id>")
def discount(code_id: int):
    require("discounts")
    return _discount_page(code_id)


@bp.post("/discounts/<int:code_id>")
def discount_update(code_id: int):
    require("discounts")
    form = DiscountEditForm()
    try:
        if not form.validate():
            raise DomainError(first_error(form))
        changed = codes.update_code(
            get_session(),
            code_id,
            usage_limit=desk.parse_limit(form.usage_limit.data),
            ends_at=form.ends_at.data,
            actor=actor(),
        )
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        return _discount_page(code_id, form, exc.message, 422)
    flash("Saved." if changed else "Nothing changed.", "success" if changed else "info")
    return _to_code(code_id)


def _set_active(code_id: int, active: bool):
    require("discounts")
    codes.update_code(get_session(), code_id, active=active, actor=actor())
    word = "active: shoppers can use it" if active else "deactivated: shoppers cannot use it"
    flash(f"The code is {word}.", "success")
    return _to_code(code_id)


@bp.post("/discounts/<int:code_id>/activate")
def discount_activate(code_id: int):
    return _set_active(code_id, True)


@bp.post("/discounts/<int:code_id>/deactivate")
def discount_deactivate(code_id: int):
    return _set_active(code_id, False)
