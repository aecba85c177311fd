"""``flask returns``: the shoppers' returns, listed (reading only)."""

from __future__ import annotations

from dataclasses import asdict

import click
from flask.cli import AppGroup

from app.db import get_session
from app.models import ReturnState
from app.services.admin.bulk_orders import return_rows

from .tables import echo_json, echo_table

returns_group = AppGroup("returns", help="Returns.")

HEADERS = ("id", "order", "sku", "qty", "state", "decision", "requested (UTC)", "reason")


@returns_group.command("list")
@click.option(
    "--state",
    type=click.Choice([s.value for s in ReturnState]),
    help="Only returns in this state.",
)
@click.option("--json", "as_json", is_flag=True, help="A JSON list of objects.")
def list_returns(state: str | None, as_json: bool) -> None:
    """Returns, newest first."""
    rows = return_rows(get_session(), ReturnState(state) if state else None)
    if as_json:
        echo_json([asdict(r) for r in rows])
        return
    echo_table(
        HEADERS,
        [
            (r.id, r.order, r.sku, r.quantity, r.state, r.decision, r.requested_at, r.reason[:40])
            for r in rows
        ],
    )
