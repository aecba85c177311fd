"""``flask admin``: the admin's periodic work, by hand or from cron when there is no Redis.

``flask admin notices`` queues the owner's emails that are due (new orders, low stock, things
that failed, yesterday's summary; each once) and has the outbox send them."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.db import get_session
from app.services.admin import notices

admin_group = AppGroup("admin", help="The owner's admin.")


@admin_group.command("notices")
def notices_cmd() -> None:
    """Queue the owner's emails that are due (safe to run often: none is sent twice)."""
    report = notices.send_owner_notices(get_session(), base_url=current_app.config["SHOP_BASE_URL"])
    click.echo(
        f"queued: {report.new_order} new-order, {report.low_stock} low-stock, "
        f"{report.failures} failure, {report.daily_summary} daily-summary email(s)"
    )
