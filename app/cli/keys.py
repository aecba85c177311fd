"""``flask keys``: license key pools of digital products."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.db import get_session
from app.jobs import fill_backorders, fill_backorders_with
from app.queue import enqueue
from app.services.errors import DomainError
from app.services.stock import keys

keys_group = AppGroup("keys", help="License keys.")


@keys_group.command("import")
@click.argument("sku")
@click.argument("file", type=click.File("r", encoding="utf-8"))
def import_cmd(sku: str, file) -> None:
    """Load keys for SKU from FILE (one per line; '-' reads standard input). Duplicates are
    refused and counted; waiting orders are then filled, oldest first."""
    session = get_session()
    try:
        report = keys.import_keys(session, sku, file, actor="cli")
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(
        f"{sku}: {report.imported} imported, {report.already_known} already known, "
        f"{report.duplicates_in_file} duplicated in the file, {report.blank} blank lines"
    )
    if report.imported:
        enqueue(
            current_app.config,
            fill_backorders,
            report.variant_id,
            inline=lambda: fill_backorders_with(session, current_app.config, report.variant_id),
        )
