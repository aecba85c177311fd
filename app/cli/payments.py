"""``flask payments``: reconciliation of payments that never reported back."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from app.db import get_session
from app.payments import get_provider
from app.services.payments import reconcile_payments

payments_group = AppGroup("payments", help="Payments.")


@payments_group.command("reconcile")
@click.option("--older-than", "minutes", type=click.FloatRange(min=0), default=None,
              help="Minutes a payment must have been pending (default "
                   "PAYMENT_RECONCILE_AFTER_MINUTES).")
def reconcile(minutes: float | None) -> None:
    """Ask providers about pending payments and complete or fail their checkouts."""
    config = current_app.config
    if minutes is None:
        minutes = config["PAYMENT_RECONCILE_AFTER_MINUTES"]
    report = reconcile_payments(get_session(), lambda name: get_provider(name, config),
                                timedelta(minutes=minutes))
    click.echo(f"checked {report.checked}: {report.completed} completed, {report.failed} "
               f"failed, {report.pending} still pending, {report.errors} errors")
