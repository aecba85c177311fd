"""Webhooks: every stored provider event with its state and error, and replaying one."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for

from app.db import get_session
from app.forms import ActionForm
from app.providers import get_provider
from app.services.admin import webhooks as webhooks_service
from app.services.errors import DomainError
from app.services.orders.order_book import OrderLinks
from app.web import render_page, safe_next

from .base import actor, bp, require


@bp.get("/webhooks")
def webhooks():
    args = request.args
    filters = webhooks_service.parse_filter(args.get("state"), args.get("provider"))
    session = get_session()
    return render_page(
        "admin/webhooks.html",
        block="results",
        filters=filters,
        page=webhooks_service.list_events(session, filters, args.get("page", 1, type=int)),
        states=webhooks_service.STATES,
        providers=webhooks_service.providers_seen(session),
        args={k: v for k, v in args.items() if k != "page" and v},
        form=ActionForm(),
    )


@bp.post("/webhooks/<int:webhook_id>/replay")
def replay_webhook(webhook_id: int):
    require("replay_webhook")
    back = redirect(safe_next(request.form.get("next"), url_for("admin.webhooks")), code=303)
    if not ActionForm().validate():
        flash("The form expired; please try again.", "error")
        return back
    config = current_app.config
    try:
        replayed, row = webhooks_service.replay(
            get_session(),
            lambda name: get_provider(name, config),
            webhook_id,
            actor=actor(),
            links=OrderLinks.from_config(config),
        )
    except DomainError as exc:
        flash(exc.message, "error")
        return back
    if not replayed:
        flash(f"Webhook {webhook_id} was already {row.state.value}; nothing to replay.", "info")
    elif row.error:
        flash(f"Webhook {webhook_id} replayed: {row.state.value} ({row.error}).", "error")
    else:
        flash(f"Webhook {webhook_id} replayed: {row.state.value}.", "success")
    return back
