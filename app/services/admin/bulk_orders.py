"""Orders and returns as lists to read elsewhere: the accountant's CSV (``/admin/orders.csv``)
and the CLI's ``flask orders list`` / ``flask returns list``. Reading only.

The orders take the order desk's filters (``order_desk.OrderFilter``) plus a range of days they
were placed on (UTC, both ends included). Money is a plain decimal beside its currency.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Order, OrderLine, Payment, Refund, RefundStatus, Return, ReturnState
from app.money import plain_decimal
from app.services.admin.order_desk import OrderFilter, filter_clauses
from app.services.errors import DomainError

from .bulk_rows import to_csv

BATCH = 500
ORDER_COLUMNS = (
    "number",
    "placed_at_utc",
    "paid_at_utc",
    "email",
    "status",
    "currency",
    "total",
    "refunded",
    "lines",
    # the breakdown (migration 0014; older orders read their total as subtotal, zeros else)
    "subtotal",
    "discount",
    "discount_code",
    "shipping",
    "tax",
    "prices_include_tax",
    "refunded_tax",
)
MONEY = ("subtotal", "discount", "shipping", "tax", "refunded_tax")


@dataclass(frozen=True)
class OrderRow:
    number: str
    placed_at: datetime
    paid_at: datetime | None
    email: str
    status: str
    currency: str
    total_cents: int
    refunded_cents: int
    lines: int
    subtotal_cents: int = 0
    discount_cents: int = 0
    discount_code: str = ""
    shipping_cents: int = 0
    tax_cents: int = 0
    prices_include_tax: bool = False
    refunded_tax_cents: int = 0

    def _money(self) -> tuple[str, ...]:
        return tuple(plain_decimal(getattr(self, f"{k}_cents"), self.currency) for k in MONEY)

    def cells(self) -> tuple:
        subtotal, discount, shipping, tax, refunded_tax = self._money()
        return (
            self.number,
            _utc(self.placed_at),
            _utc(self.paid_at),
            self.email,
            self.status,
            self.currency,
            plain_decimal(self.total_cents, self.currency),
            plain_decimal(self.refunded_cents, self.currency),
            self.lines,
            subtotal,
            discount,
            self.discount_code,
            shipping,
            tax,
            "yes" if self.prices_include_tax else "no",
            refunded_tax,
        )

    def as_json(self) -> dict:
        row = asdict(self)
        row["placed_at"], row["paid_at"] = _utc(self.placed_at), _utc(self.paid_at)
        row["total"] = plain_decimal(self.total_cents, self.currency)
        row["refunded"] = plain_decimal(self.refunded_cents, self.currency)
        row.update(zip(MONEY, self._money(), strict=True))
        return row


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _range(start: date | None, end: date | None) -> list:
    if start and end and end < start:
        raise DomainError("The range ends before it starts: check the from and to days.")
    where = []
    if start:
        where.append(Order.created_at >= datetime.combine(start, time.min, tzinfo=UTC))
    if end:
        where.append(Order.created_at < datetime.combine(end, time.min, tzinfo=UTC) + timedelta(1))
    return where


def order_rows(
    session: Session,
    filters: OrderFilter,
    start: date | None = None,
    end: date | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> Iterator[OrderRow]:
    """Orders matching ``filters`` placed from ``start`` to ``end``, oldest (or newest) first,
    read in batches (a year of orders never sits in memory at once)."""
    refunded = (
        select(func.coalesce(func.sum(Payment.refunded_cents), 0))
        .where(Payment.checkout_id == Order.checkout_id)
        .scalar_subquery()
    )
    lines = select(func.count(OrderLine.id)).where(OrderLine.order_id == Order.id)
    refunded_tax = select(func.coalesce(func.sum(Refund.tax_cents), 0)).where(
        Refund.order_id == Order.id, Refund.status == RefundStatus.SUCCEEDED
    )
    query = (
        select(Order, refunded, lines.scalar_subquery(), refunded_tax.scalar_subquery())
        .where(*filter_clauses(filters), *_range(start, end))
        .order_by(Order.id.desc() if newest_first else Order.id)
    )
    last, given = None, 0
    while limit is None or given < limit:
        after = query
        if last is not None:
            after = query.where(Order.id < last if newest_first else Order.id > last)
        batch = session.execute(after.limit(BATCH)).all()
        for order, refunded_cents, count, refunded_tax_cents in batch:
            if limit is not None and given >= limit:
                return
            given += 1
            yield _row(order, int(refunded_cents), int(count), int(refunded_tax_cents))
        if len(batch) < BATCH:
            return
        last = batch[-1][0].id


def _row(order: Order, refunded_cents: int, lines: int, refunded_tax_cents: int) -> OrderRow:
    return OrderRow(
        order.number,
        order.created_at,
        order.paid_at,
        order.email,
        order.status.value,
        order.currency,
        order.total_cents,
        refunded_cents,
        lines,
        subtotal_cents=order.subtotal_cents,
        discount_cents=order.discount_cents,
        discount_code=order.discount_code,
        shipping_cents=order.shipping_cents,
        tax_cents=order.tax_cents,
        prices_include_tax=order.prices_include_tax,
        refunded_tax_cents=refunded_tax_cents,
    )


def orders_csv(
    session: Session, filters: OrderFilter, start: date | None, end: date | None
) -> Iterator[str]:
    """The CSV, a batch of rows at a time (for a streamed response)."""
    _range(start, end)  # a bad range is refused before the first byte is sent
    yield to_csv(ORDER_COLUMNS, [])
    chunk: list[tuple] = []
    for row in order_rows(session, filters, start, end):
        chunk.append(row.cells())
        if len(chunk) == BATCH:
            yield to_csv(None, chunk)
            chunk = []
    if chunk:
        yield to_csv(None, chunk)


@dataclass(frozen=True)
class ReturnRow:
    id: int
    order: str
    sku: str
    quantity: int
    state: str
    decision: str | None
    reason: str
    requested_at: str


def return_rows(session: Session, state: ReturnState | None = None) -> list[ReturnRow]:
    """Returns, newest first, optionally in one state."""
    query = (
        select(Return, Order.number, OrderLine.sku)
        .join(Order, Order.id == Return.order_id)
        .join(OrderLine, OrderLine.id == Return.order_line_id)
        .order_by(Return.created_at.desc(), Return.id.desc())
    )
    if state is not None:
        query = query.where(Return.state == state)
    return [
        ReturnRow(
            r.id,
            number,
            sku,
            r.quantity,
            r.state.value,
            r.decision,
            r.reason,
            _utc(r.created_at),
        )
        for r, number, sku in session.execute(query)
    ]
