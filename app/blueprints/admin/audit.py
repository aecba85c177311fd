"""The admin's audit log: every recorded action, filterable, newest first."""

from __future__ import annotations

from flask import request

from app.db import get_session
from app.input_guard import MAX_ID
from app.services.admin import audit_log
from app.services.errors import DomainError
from app.web import render_page

from .base import bp


def _filters() -> audit_log.AuditFilter:
    args = request.args
    raw_id = args.get("subject_id", "").strip()
    if raw_id and (not raw_id.isdigit() or int(raw_id) > MAX_ID):
        raise DomainError("The target id must be a number.")
    return audit_log.AuditFilter(
        action=args.get("action", "")[:64],
        actor=args.get("actor", "")[:254].strip(),
        subject_type=args.get("subject_type", "")[:64],
        subject_id=int(raw_id) if raw_id else None,
    )


@bp.get("/audit")
def audit():
    filters = _filters()
    found = audit_log.audit_page(get_session(), filters, request.args.get("page", 1, type=int))
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_page(
        "admin/audit.html",
        block="results",
        page=found.entries,
        filters=filters,
        args=args,
        actions=found.actions,
        subject_types=found.subject_types,
        changes=audit_log.changes,
    )
