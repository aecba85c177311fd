"""``flask checkout``: how checkouts fared."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from app.db import get_session
from app.services.checkout.monitor import checkout_summary

checkout_group = AppGroup("checkout", help="Checkout reports.")


@checkout_group.command("monitor")
@click.option(
    "--hours",
    default=24.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="Look back this many hours.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def monitor(hours: float, as_json: bool) -> None:
    """Started, completed, expired and failed checkouts (by phase, with the top reasons),
    success rate and median time to complete."""
    summary = checkout_summary(get_session(), hours)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
        return
    rate = "—" if summary.success_rate is None else f"{summary.success_rate:.1%}"
    median = (
        "—"
        if summary.median_seconds_to_complete is None
        else f"{summary.median_seconds_to_complete:.0f} s"
    )
    rows = [
        ("started", summary.started),
        ("completed", summary.completed),
        ("expired", summary.expired),
        ("cancelled", summary.cancelled),
        ("failed", summary.failed),
        ("in progress", summary.in_progress),
        ("success rate", rate),
        ("median time to complete", median),
    ]
    click.echo(f"Checkouts since {summary.since} (last {hours:g} h)")
    for label, value in rows:
        click.echo(f"  {label:<26}{value:>10}")
    if summary.failed_by_phase:
        click.echo("Failed by phase")
        for phase, count in sorted(summary.failed_by_phase.items(), key=lambda kv: -kv[1]):
            click.echo(f"  {phase:<26}{count:>10}")
        click.echo("Top failure reasons")
        for reason, count in summary.top_failure_reasons:
            click.echo(f"  {count:>4} × {reason}")
