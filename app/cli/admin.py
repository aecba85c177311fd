"""``flask admin``: the admin's periodic work, by hand or from cron when there is no Redis.

``flask admin notices`` queues the owner's emails that are due (new orders, low stock, things
that failed, yesterday's summary; each once) and has the outbox send them. ``flask admin
alerts`` opens and resolves the owner's alerts (run it every minute from cron without Redis)."""

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


@admin_group.command("alerts")
def alerts_cmd() -> None:
    """Open and resolve the owner's alerts (safe to run every minute: each alert is emailed once
    when it opens and once when it ends). Exit 1 while the database is unreachable."""
    from app.services.ops import alerts

    report = alerts.watch(get_session(), current_app.config)
    if report.database_down:
        told = (
            "the owners were emailed"
            if report.emailed_directly
            else "no email now: sent within the hour, or nobody to send it to (ALERT_EMAIL)"
        )
        click.echo(f"the database is unreachable; {told}")
        raise SystemExit(1)
    click.echo(
        f"opened: {', '.join(report.opened) or 'none'}; "
        f"resolved: {', '.join(report.resolved) or 'none'}; "
        f"open: {', '.join(report.still_open) or 'none'}"
    )
