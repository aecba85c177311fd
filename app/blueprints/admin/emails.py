"""Emails: the outbox with state, attempts and last error; sending one again; and reading any
message as sent (its HTML shown in a sandboxed frame, never in the admin page itself)."""

from __future__ import annotations

import secrets

from flask import abort, current_app, flash, redirect, request, url_for

from app.db import get_session
from app.forms import KeyedActionForm
from app.services.admin import emails as emails_service
from app.services.errors import DomainError, NotFound
from app.services.mail.notifications import KINDS
from app.web import render_page, safe_next

from .base import actor, bp, require


@bp.get("/emails")
def emails():
    args = request.args
    filters = emails_service.parse_filter(args.get("state"), args.get("kind"), args.get("q"))
    return render_page(
        "admin/emails.html",
        block="results",
        filters=filters,
        page=emails_service.list_emails(get_session(), filters, args.get("page", 1, type=int)),
        states=emails_service.STATES,
        kinds=KINDS,
        args={k: v for k, v in args.items() if k != "page" and v},
        form=KeyedActionForm(key=secrets.token_hex(16)),
    )


@bp.get("/emails/<int:message_id>")
def email(message_id: int):
    try:
        message = emails_service.get_email(get_session(), message_id)
    except NotFound:
        abort(404)
    return render_page(
        "admin/email.html",
        message=message,
        rendered=emails_service.render_as_sent(message, current_app.config),
        form=KeyedActionForm(key=secrets.token_hex(16)),
    )


@bp.post("/emails/<int:message_id>/resend")
def resend_email(message_id: int):
    require("resend_email")
    back = redirect(safe_next(request.form.get("next"), url_for("admin.emails")), code=303)
    form = KeyedActionForm()
    if not form.validate():
        flash("The form expired; reload the page and try again.", "error")
        return back
    try:
        sent = emails_service.resend(get_session(), message_id, form.key.data, actor=actor())
    except DomainError as exc:
        flash(exc.message, "error")
        return back
    if sent.id == message_id:
        flash(f"Email {message_id} will be sent again shortly.", "success")
    else:
        flash(f"A new copy of email {message_id} is queued (email {sent.id}).", "success")
    return back
