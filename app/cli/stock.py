"""``flask stock``: read and change stock from the shell.

Every change goes through ``services.inventory`` (the ledger, and the audit log for owner
adjustments); these commands only parse, call one service and print.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict

import click
from flask import current_app
from flask.cli import AppGroup

from app.db import get_session
from app.jobs import fill_backorders, fill_backorders_with
from app.models import MovementReason
from app.queue import enqueue
from app.services.errors import DomainError
from app.services.stock import inventory, sweeper

stock_group = AppGroup("stock", help="Stock on hand, holds and the ledger.")

LIST_KEYS = ("id", "sku", "product", "kind", "allow_backorder", "on_hand", "held", "available")


@stock_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object a variant.")
def list_cmd(as_json: bool) -> None:
    """Every variant: on hand, held by live holds, available."""
    levels = inventory.stock_levels(get_session())
    if as_json:
        rows = [{key: asdict(level)[key] for key in LIST_KEYS} for level in levels]
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'SKU':<24} {'ON HAND':>8} {'HELD':>6} {'AVAILABLE':>9}  PRODUCT")
    for level in levels:
        backorder = " (back-orders)" if level.allow_backorder else ""
        click.echo(
            f"{level.sku:<24} {level.on_hand:>8} {level.held:>6} {level.available:>9}  "
            f"{level.product}{backorder}"
        )


@stock_group.command("show")
@click.argument("sku")
@click.option("--movements", default=10, show_default=True, help="How many ledger rows.")
def show_cmd(sku: str, movements: int) -> None:
    """On hand, held and available for SKU, its live holds and its latest ledger rows."""
    try:
        detail = inventory.stock_detail(get_session(), sku, movements=movements)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    level = detail.level
    click.echo(f"{level.sku}  {level.product} ({level.kind})")
    click.echo(f"  on hand    {level.on_hand}")
    click.echo(f"  held       {level.held}  ({len(detail.live_holds)} live holds)")
    if level.allow_backorder or level.owed:
        click.echo(f"  owed       {level.owed}  (sold on back-order, awaiting stock)")
    click.echo(f"  available  {level.available}")
    for hold in detail.live_holds:
        click.echo(
            f"  hold {hold.hold_ref}  {hold.quantity} until {hold.expires_at:%Y-%m-%d %H:%M:%S}Z"
        )
    click.echo("last movements:")
    if not detail.movements:
        click.echo("  (none)")
    for m in detail.movements:
        click.echo(
            f"  {m.created_at:%Y-%m-%d %H:%M:%S}Z  {m.delta:+d}  {m.reason.value:<10} "
            f"{m.reference or '-'}  {m.actor}  {m.note}".rstrip()
        )


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@stock_group.command("adjust", context_settings={"ignore_unknown_options": True})
@click.argument("sku")
@click.argument("delta", type=int)
@click.option("--reason", required=True, help="Why the stock changes, e.g. 'damaged in storage'.")
@click.option(
    "--kind",
    type=click.Choice(sorted(r.value for r in inventory.ADJUSTABLE)),
    default=MovementReason.ADJUST.value,
    show_default=True,
    help="The ledger reason.",
)
@click.option("--force", is_flag=True, help="Release the newest holds if the units are held.")
@click.option("--actor", default=None, help="Who makes the change (default: cli:<user>).")
def adjust_cmd(sku: str, delta: int, reason: str, kind: str, force: bool, actor: str | None):
    """Add (DELTA > 0) or remove (DELTA < 0) units of SKU, e.g. `flask stock adjust TEE-M -2
    --reason "damaged"`."""
    try:
        result = inventory.adjust_stock(
            get_session(),
            sku,
            delta,
            reason=reason,
            kind=MovementReason(kind),
            actor=actor or _default_actor(),
            force=force,
        )
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{result.sku}: {result.delta:+d}, on hand now {result.on_hand}")
    for ref in result.released_holds:
        click.echo(f"released hold {ref}")
    if result.delta > 0:  # stock arrived: orders waiting for it are filled, oldest first
        session, config = get_session(), current_app.config
        enqueue(
            config,
            fill_backorders,
            result.variant_id,
            inline=lambda: fill_backorders_with(session, config, result.variant_id),
        )


@stock_group.command("cleanup")
@click.option("--batch-size", type=int, default=None, help="Holds per batch (default: config).")
def cleanup_cmd(batch_size: int | None) -> None:
    """Mark expired holds as expired, and release expired discount holds, now (the sweeper's
    job, on demand)."""
    size = batch_size or current_app.config.get("HOLD_SWEEP_BATCH_SIZE", 1000)
    result = sweeper.sweep_expired_holds(get_session(), batch_size=size, trigger="cli")
    click.echo(f"expired {result.expired} hold(s) in {result.batches} batch(es)")
    if result.discount_holds_released:
        click.echo(f"released {result.discount_holds_released} expired discount hold(s)")
