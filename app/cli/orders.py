"""``flask orders``: fulfilment chores."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app import jobs
from app.db import get_session

orders_group = AppGroup("orders", help="Orders.")


@orders_group.command("retry-fulfilment")
def retry_fulfilment() -> None:
    """Fill every waiting order line that stock and keys now allow, oldest first."""
    filled = jobs.retry_fulfilment_with(get_session(), current_app.config)
    click.echo(f"filled {len(filled)} order(s): {', '.join(filled) or 'none waiting'}")
