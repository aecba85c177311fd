"""The audit log, read: every row (who, what, target, before/after, IP, time), newest first,
filtered by action, actor and target, one page at a time."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import AuditLog
from app.services.admin.paging import paged
from app.services.catalog.browse import Page

PER_PAGE = 50


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    actor: str = ""  # part of the actor's email, any case
    subject_type: str = ""
    subject_id: int | None = None


def _where(filters: AuditFilter) -> list:
    where = []
    if filters.action:
        where.append(AuditLog.action == filters.action)
    if filters.actor:
        where.append(func.lower(AuditLog.actor).contains(filters.actor.lower(), autoescape=True))
    if filters.subject_type:
        where.append(AuditLog.subject_type == filters.subject_type)
    if filters.subject_id is not None:
        where.append(AuditLog.subject_id == filters.subject_id)
    return where


def list_entries(session: Session, filters: AuditFilter, page: int = 1) -> Page[AuditLog]:
    stmt = (
        select(AuditLog)
        .where(*_where(filters))
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
    )
    return paged(session, stmt, page, PER_PAGE)


@dataclass(frozen=True)
class AuditPage:
    entries: Page[AuditLog]
    actions: list[str]  # every action recorded, for the filter
    subject_types: list[str]


def audit_page(session: Session, filters: AuditFilter, page: int = 1) -> AuditPage:
    actions = session.scalars(select(AuditLog.action).distinct().order_by(AuditLog.action))
    types = select(AuditLog.subject_type).where(AuditLog.subject_type.is_not(None)).distinct()
    return AuditPage(
        list_entries(session, filters, page), list(actions), sorted(session.scalars(types))
    )


def changes(entry: AuditLog) -> tuple[object, object, dict]:
    """(before, after, the other details) of one row, for the page."""
    details = dict(entry.details or {})
    before, after = details.pop("before", None), details.pop("after", None)
    return before, after, details
