"""The returns queue: requested returns first (oldest first), then decided ones (newest
first), each with its order and line. Read only; the decisions are
``services.orders.aftersales`` (receive, write off, refuse)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import case, select
from sqlalchemy.orm import Session, joinedload

from app.models import Order, Return, ReturnState
from app.services.admin.paging import paged
from app.services.catalog.browse import Page
from app.services.errors import DomainError

STATES = tuple(s.value for s in ReturnState)


def parse_state(value: str | None) -> ReturnState | None:
    if not value:
        return None
    if value not in STATES:
        raise DomainError(f"There is no return state {value!r}.")
    return ReturnState(value)


def list_returns(session: Session, state: ReturnState | None = None, page: int = 1) -> Page:
    """Pages of ``(Return, order number)``."""
    requested_first = case((Return.state == ReturnState.REQUESTED, 0), else_=1)
    stmt = (
        select(Return)
        .options(joinedload(Return.line))
        .order_by(
            requested_first,
            case((Return.state == ReturnState.REQUESTED, Return.id), else_=-Return.id),
        )
    )
    if state is not None:
        stmt = stmt.where(Return.state == state)
    result = paged(session, stmt, page)
    numbers = dict(
        session.execute(
            select(Order.id, Order.number).where(Order.id.in_({r.order_id for r in result.items}))
        ).all()
    )
    return replace(result, items=[(r, numbers.get(r.order_id, "")) for r in result.items])


def order_line_variant(session: Session, return_id: int) -> int | None:
    """The variant a return's units belong to (to fill back-orders once restocked)."""
    ret = session.get(Return, return_id)
    return ret.line.variant_id if ret is not None else None
