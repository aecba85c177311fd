"""``flask orders``: fulfilment chores."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.db import get_session
from app.jobs import fill_backorders, fill_backorders_with, retry_fulfilment_with
from app.models import OrderStatus
from app.providers import get_provider
from app.queue import enqueue
from app.services.admin.bulk_orders import order_rows
from app.services.admin.order_desk import OrderFilter
from app.services.errors import DomainError
from app.services.orders import aftersales
from app.services.orders.order_book import OrderLinks

from .tables import echo_json, echo_table

orders_group = AppGroup("orders", help="Orders.")


@orders_group.command("retry-fulfilment")
def retry_fulfilment() -> None:
    """Fill every waiting order line that stock and keys now allow, oldest first."""
    filled = retry_fulfilment_with(get_session(), current_app.config)
    click.echo(f"filled {len(filled)} order(s): {', '.join(filled) or 'none waiting'}")


@orders_group.command("ship")
@click.argument("number")
@click.option("--carrier", required=True)
@click.option("--tracking", required=True, help="The carrier's tracking number.")
def ship(number: str, carrier: str, tracking: str) -> None:
    """Mark an order shipped; the shopper is emailed the tracking number."""
    try:
        order = aftersales.ship_order(
            get_session(),
            number,
            carrier=carrier,
            tracking=tracking,
            actor="cli",
            links=OrderLinks.from_config(current_app.config),
        )
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{order.number} shipped with {order.carrier} ({order.tracking_number})")


@orders_group.command("receive-return")
@click.argument("return_id", type=int)
def receive_return(return_id: int) -> None:
    """The goods of return RETURN_ID arrived: refund them and put them back in stock."""
    config = current_app.config
    session = get_session()
    try:
        ret = aftersales.receive_return(
            session,
            lambda name: get_provider(name, config),
            return_id,
            actor="cli",
            links=OrderLinks.from_config(config),
        )
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"return {ret.id} received: {ret.quantity} unit(s) back in stock, refunded")
    variant_id = ret.line.variant_id
    enqueue(
        config,
        fill_backorders,
        variant_id,
        inline=lambda: fill_backorders_with(session, config, variant_id),
    )


@orders_group.command("list")
@click.option(
    "--status",
    type=click.Choice([s.value for s in OrderStatus]),
    help="Only orders in this status.",
)
@click.option("--to-ship", is_flag=True, help="Only paid orders with goods to send.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON list of objects.")
def list_orders(status: str | None, to_ship: bool, limit: int, as_json: bool) -> None:
    """Orders, newest first (the admin's order list)."""
    filters = OrderFilter(status=OrderStatus(status) if status else None, to_ship=to_ship)
    rows = list(order_rows(get_session(), filters, limit=limit, newest_first=True))
    if as_json:
        echo_json([r.as_json() for r in rows])
        return
    headers = ("number", "placed (UTC)", "status", "email", "total", "refunded", "lines")
    echo_table(headers, [_cells(r.as_json()) for r in rows])


def _cells(row: dict) -> tuple:
    total = f"{row['total']} {row['currency']}"
    keys = ("number", "placed_at", "status", "email")
    return (*(row[k] for k in keys), total, row["refunded"], row["lines"])
