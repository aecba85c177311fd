"""``flask payments``: reconciliation of payments that never reported back."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from app.db import get_session
from app.providers import get_provider
from app.services.orders.order_book import OrderLinks
from app.services.payments import reconcile as reconciliation

payments_group = AppGroup("payments", help="Payments.")


@payments_group.command("reconcile")
@click.option(
    "--older-than",
    "minutes",
    type=click.FloatRange(min=0),
    default=None,
    help="Minutes a payment must have been pending (default PAYMENT_RECONCILE_AFTER_MINUTES).",
)
def reconcile(minutes: float | None) -> None:
    """Finish what was left half-done: ask providers about payments that never reported back
    or hide money without an order, process webhook events never processed, and record on
    their orders refunds that never were."""
    config = current_app.config
    if minutes is None:
        minutes = config["PAYMENT_RECONCILE_AFTER_MINUTES"]
    report = reconciliation.reconcile(
        get_session(),
        lambda name: get_provider(name, config),
        timedelta(minutes=minutes),
        links=OrderLinks.from_config(config),
    )
    click.echo(
        f"checked {report.checked}: {report.completed} completed, {report.failed} "
        f"failed, {report.pending} still pending, {report.errors} errors; "
        f"{report.webhooks} webhook(s) processed, {report.refunds_applied} refund(s) "
        f"recorded on their orders, {report.refunds_retried} retried"
    )
    for problem in report.problems:
        click.echo(f"needs the owner: {problem}", err=True)


@payments_group.command("refund")
@click.argument("order_number")
@click.option(
    "--amount",
    "amount_cents",
    type=click.IntRange(min=1),
    default=None,
    help="Minor units (cents) to refund; default: everything not yet refunded.",
)
@click.option("--reason", required=True, help="Why (kept on the refund and the order).")
@click.option(
    "--restock",
    "restock",
    multiple=True,
    metavar="LINE_ID:QTY",
    help="Return QTY units of order line LINE_ID to stock (repeatable).",
)
@click.option("--key", default=None, help="Idempotency key: a retry with it never refunds twice.")
def refund(
    order_number: str,
    amount_cents: int | None,
    reason: str,
    restock: tuple[str, ...],
    key: str | None,
) -> None:
    """Refund an order, fully or partly, through its payment provider."""
    from app.services.errors import DomainError
    from app.services.orders.refunds import refund_order

    try:
        units = {int(a): int(b) for a, b in (item.split(":", 1) for item in restock)}
    except ValueError as exc:
        raise click.BadParameter("use LINE_ID:QTY, e.g. 12:1", param_hint="--restock") from exc
    config = current_app.config
    try:
        result = refund_order(
            get_session(),
            lambda name: get_provider(name, config),
            order_number,
            amount_cents=amount_cents,
            reason=reason,
            restock=units,
            actor="cli",
            idempotency_key=key,
            links=OrderLinks.from_config(config),
        )
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"refund {result.id}: {result.amount_cents} {result.currency} {result.status.value}")
