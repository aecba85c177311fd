"""Bulk work: the catalogue exported and imported as CSV (upload → dry run → apply), and the
orders exported as CSV for the accountant."""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import date

from flask import Response, current_app, flash, redirect, request, stream_with_context, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField
from wtforms.validators import DataRequired, Length

from app import clock
from app.db import get_session
from app.jobs import fill_backorders, fill_backorders_with
from app.models import OrderStatus
from app.queue import enqueue
from app.services.admin import bulk, bulk_orders
from app.services.admin.order_desk import OrderFilter
from app.services.errors import DomainError
from app.web import render_page

from .base import actor, bp, require

CHUNK = 16_000  # each hidden field stays under the input guard's limit for one value


class ImportForm(FlaskForm):
    file = FileField("Catalogue CSV", validators=[FileRequired("Choose the CSV file to import.")])


class ApplyForm(FlaskForm):
    """Carries the file the dry run read (base64, in ``chunk`` fields) and the token drawn for
    that dry run: the idempotency key is both, so a double click applies once."""

    token = HiddenField(validators=[DataRequired(), Length(min=16, max=64)])


def _back():
    return redirect(url_for("admin.bulk"), code=303)


def _chunks(text: str) -> list[str]:
    packed = base64.b64encode(text.encode()).decode()
    return [packed[i : i + CHUNK] for i in range(0, len(packed), CHUNK)]


def _unpack(chunks: list[str]) -> str:
    try:
        data = base64.b64decode("".join(chunks), validate=True)
    except binascii.Error:
        raise DomainError("The import form was damaged; upload the file again.") from None
    return bulk.decode(data)


def _dry_run(text: str, plan: bulk.Plan, status: int = 200):
    form = ApplyForm(token=secrets.token_hex(16))
    return render_page(
        "admin/bulk/dry_run.html",
        status=422 if plan.errors else status,
        plan=plan,
        form=form,
        chunks=_chunks(text),
    )


@bp.get("/bulk", endpoint="bulk")
def bulk_page():
    require("bulk")
    return render_page("admin/bulk/index.html", form=ImportForm(), statuses=list(OrderStatus))


@bp.get("/bulk/catalogue.csv")
def bulk_export():
    require("bulk")
    body = bulk.export_catalogue(get_session())
    name = f"catalogue-{clock.now().date().isoformat()}.csv"
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.post("/bulk/import")
def bulk_import():
    require("bulk")
    form = ImportForm()
    if not form.validate():
        flash(next(iter(form.errors.values()))[0], "error")
        return _back()
    try:
        text = bulk.decode(form.file.data.read())
    except DomainError as exc:
        flash(exc.message, "error")
        return _back()
    plan = bulk.plan_import(get_session(), text, current_app.config["SHOP_CURRENCY"])
    return _dry_run(text, plan)


@bp.post("/bulk/apply")
def bulk_apply():
    require("bulk")
    form = ApplyForm()
    if not form.validate():
        flash("The import form was damaged; upload the file again.", "error")
        return _back()
    try:
        text = _unpack(request.form.getlist("chunk"))
        applied = bulk.apply_import(
            get_session(),
            text,
            current_app.config["SHOP_CURRENCY"],
            key=bulk.import_key(form.token.data, text),
            actor=actor(),
        )
    except bulk.ImportRefused as exc:
        return _dry_run(text, exc.plan)
    except DomainError as exc:
        flash(exc.message, "error")
        return _back()
    for variant_id in applied.restocked:  # stock arrived: waiting orders are filled
        _fill_waiting(variant_id)
    if applied.already:
        flash("That import was applied already; nothing was done again.", "info")
    else:
        flash(_summary(applied.counts), "success")
    return _back()


def _fill_waiting(variant_id: int) -> None:
    session, config = get_session(), current_app.config
    enqueue(
        config,
        fill_backorders,
        variant_id,
        inline=lambda: fill_backorders_with(session, config, variant_id),
    )


def _summary(counts: dict[str, int]) -> str:
    return (
        f"Imported: {counts['products_created']} new product(s), {counts['variants_created']} "
        f"new variant(s), {counts['prices_changed']} price(s), {counts['stock_changed']} stock "
        f"level(s) and {counts['fields_changed']} other field(s) changed."
    )


def _day(name: str) -> date | None:
    value = request.args.get(name)
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise DomainError(f"Enter {name} as YYYY-MM-DD.") from None


def _order_filters() -> OrderFilter:
    status = request.args.get("status") or None
    if status is not None and status not in OrderStatus.__members__.values():
        raise DomainError(f"There is no order status {status!r}.")
    return OrderFilter(
        status=OrderStatus(status) if status else None,
        to_ship=request.args.get("to_ship") == "1",
        day=_day("day"),
        q=request.args.get("q", "")[:100],
    )


@bp.get("/orders.csv")
def orders_csv():
    require("bulk")
    filters, start, end = _order_filters(), _day("from"), _day("to")
    rows = bulk_orders.orders_csv(get_session(), filters, start, end)
    first = next(rows)  # a bad range is refused here, before the response starts
    name = f"orders-{clock.now().date().isoformat()}.csv"

    def body():
        yield first
        yield from rows

    return Response(
        stream_with_context(body()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
