"""The returns queue: what shoppers asked to send back, and the shop's decision on each —
received and restocked, received damaged and written off (refunded, not restocked), or
refused with a reason the shopper is emailed."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for

from app.db import get_session
from app.forms import ActionForm, CancelForm
from app.jobs import fill_backorders, fill_backorders_with
from app.providers import get_provider
from app.queue import enqueue
from app.services.admin import returns as returns_service
from app.services.errors import DomainError
from app.services.orders import aftersales
from app.services.orders.order_book import OrderLinks
from app.web import render_page, safe_next

from .base import actor, bp, require

DONE = {
    "restocked": "received and back in stock; the shopper is refunded",
    "written_off": "received and written off (not restocked); the shopper is refunded",
    "refused": "refused; the shopper is emailed why",
}


def _back():
    return redirect(safe_next(request.form.get("next"), url_for("admin.returns")), code=303)


@bp.get("/returns")
def returns():
    state = returns_service.parse_state(request.args.get("state"))
    page = returns_service.list_returns(get_session(), state, request.args.get("page", 1, type=int))
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_page(
        "admin/returns.html",
        block="results",
        page=page,
        state=state,
        states=returns_service.STATES,
        args=args,
        action_form=ActionForm(),
        refuse_form=CancelForm(),
    )


def _told(ret, wanted: str):
    if ret.decision == wanted:
        flash(f"Return {ret.id} is {DONE[wanted]}.", "success")
    else:
        flash(f"Return {ret.id} was already decided: {ret.decision or ret.state.value}.", "info")
    return _back()


def _receive(return_id: int, *, restock: bool):
    require("decide_return")
    if not ActionForm().validate():
        flash("The form expired; please try again.", "error")
        return _back()
    config, session = current_app.config, get_session()
    try:
        ret = aftersales.receive_return(
            session,
            lambda name: get_provider(name, config),
            return_id,
            actor=actor(),
            links=OrderLinks.from_config(config),
            restock=restock,
        )
    except DomainError as exc:
        flash(exc.message, "error")
        return _back()
    if ret.decision == "restocked":
        variant_id = ret.line.variant_id
        enqueue(
            config,
            fill_backorders,
            variant_id,
            inline=lambda: fill_backorders_with(session, config, variant_id),
        )
    return _told(ret, "restocked" if restock else "written_off")


@bp.post("/returns/<int:return_id>/restock")
def return_restock(return_id: int):
    return _receive(return_id, restock=True)


@bp.post("/returns/<int:return_id>/write-off")
def return_write_off(return_id: int):
    return _receive(return_id, restock=False)


@bp.post("/returns/<int:return_id>/refuse")
def return_refuse(return_id: int):
    require("decide_return")
    form = CancelForm()
    if not form.validate():
        flash(next(iter(form.errors.values()))[0], "error")
        return _back()
    try:
        ret = aftersales.refuse_return(
            get_session(),
            return_id,
            form.reason.data or "",
            actor=actor(),
            links=OrderLinks.from_config(current_app.config),
        )
    except DomainError as exc:
        flash(exc.message, "error")
        return _back()
    return _told(ret, "refused")
