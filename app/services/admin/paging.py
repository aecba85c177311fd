"""Server-side paging for the admin's lists: one count, one page of rows."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.services.catalog.browse import Page

PER_PAGE = 25


def paged(session: Session, stmt: Select, page: int, per_page: int = PER_PAGE) -> Page:
    """``stmt`` (ordered) cut to ``page`` (clamped to the pages there are)."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    items = list(session.scalars(stmt.offset((page - 1) * per_page).limit(per_page)))
    return Page(items, page, per_page, total)
