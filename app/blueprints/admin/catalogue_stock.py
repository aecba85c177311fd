"""A variant's page in the admin: its fields edited, its stock (level, live holds, the ledger
paged newest first), the "Adjust stock" form (a reason required; refusals shown as form
errors) and, for a digital variant, its key pool (keys pasted or uploaded). Stock that arrives
fills waiting back-orders: ``fill_backorders`` is queued as ``flask stock adjust`` and
``flask keys import`` do."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for

from app.db import get_session
from app.input_guard import allow_upload
from app.jobs import fill_backorders, fill_backorders_with
from app.models import MovementReason
from app.queue import enqueue
from app.services.admin import catalogue, stock_desk, variants
from app.services.errors import DomainError, NotFound
from app.services.stock import inventory, keys
from app.web import render_page

from .base import actor, bp, require
from .catalogue import first_error, variant_input
from .catalogue_forms import AdjustForm, KeysForm, VariantForm, new_key


def _to_variant(variant_id: int, anchor: str = ""):
    return redirect(url_for("admin.variant", variant_id=variant_id) + anchor, code=303)


def _fill_waiting(variant_id: int) -> None:
    """Stock or keys arrived: orders waiting for them are filled, oldest first."""
    session, config = get_session(), current_app.config
    enqueue(
        config,
        fill_backorders,
        variant_id,
        inline=lambda: fill_backorders_with(session, config, variant_id),
    )


def variant_page(
    variant_id: int, *, form=None, adjust=None, keys_form=None, error=None, status=200
):
    session = get_session()
    try:
        variant = catalogue.get_variant(session, variant_id)
    except NotFound:
        abort(404)
    if form is None:
        form = VariantForm(obj=variant, key=new_key())
        form.price.data = f"{variant.price_cents / 100:.2f}"
    view = stock_desk.variant_stock(session, variant, request.args.get("page", 1, type=int))
    return render_page(
        "admin/catalogue/variant.html",
        status=status,
        view=view,
        variant=variant,
        form=form,
        adjust=adjust or AdjustForm(key=new_key()),
        keys_form=keys_form or KeysForm(key=new_key()),
        error=error,
        args={"variant_id": variant_id},
    )


@bp.get("/variants/<int:variant_id>")
def variant(variant_id: int):
    return variant_page(variant_id)


@bp.post("/variants/<int:variant_id>")
def variant_update(variant_id: int):
    require("catalogue")
    form = VariantForm()
    try:
        if not form.validate():
            raise DomainError(first_error(form))
        changed = variants.update_variant(
            get_session(), variant_id, variant_input(form), actor=actor()
        )
    except NotFound:
        abort(404)
    except (DomainError, ValueError) as exc:
        message = exc.message if isinstance(exc, DomainError) else str(exc)
        return variant_page(variant_id, form=form, error=message, status=422)
    flash("Saved." if changed else "Nothing changed.", "success" if changed else "info")
    return _to_variant(variant_id)


@bp.post("/variants/<int:variant_id>/adjust")
def stock_adjust(variant_id: int):
    require("stock")
    form = AdjustForm()
    try:
        if not form.validate():
            raise DomainError(first_error(form))
        result = inventory.adjust_stock(
            get_session(),
            variant_id,
            form.delta.data,
            reason=form.reason.data,
            kind=MovementReason(form.kind.data),
            actor=actor(),
            force=bool(form.force.data),
            once=f"admin:{form.key.data}",
        )
    except inventory.UnknownVariant:
        abort(404)
    except DomainError as exc:
        return variant_page(variant_id, adjust=form, error=exc.message, status=422)
    if result.delta > 0 and not result.repeated:
        _fill_waiting(variant_id)
    released = (
        f"; released holds {', '.join(result.released_holds)}" if result.released_holds else ""
    )
    flash(f"{result.sku}: {result.delta:+d}, on hand now {result.on_hand}{released}.", "success")
    return _to_variant(variant_id, "#stock")


@bp.post("/variants/<int:variant_id>/keys")
@allow_upload
def keys_import(variant_id: int):
    require("stock")
    form = KeysForm()
    session = get_session()
    upload = request.files.get("file")
    try:
        variant = catalogue.get_variant(session, variant_id)
        if not form.validate():
            raise DomainError(first_error(form))
        lines = stock_desk.key_lines(form.keys.data or "", upload.read() if upload else None)
        report = keys.import_keys(session, variant.sku, lines, actor=actor())
    except NotFound:
        abort(404)
    except DomainError as exc:
        return variant_page(variant_id, keys_form=form, error=exc.message, status=422)
    if report.imported:
        _fill_waiting(variant_id)
    refused = report.duplicates_in_file + report.already_known
    flash(
        f"{report.imported} key{'' if report.imported == 1 else 's'} imported; "
        f"{refused} duplicate{'' if refused == 1 else 's'} refused "
        f"({report.duplicates_in_file} repeated in the upload, "
        f"{report.already_known} already known).",
        "success" if report.imported else "info",
    )
    return _to_variant(variant_id, "#keys")
