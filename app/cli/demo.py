"""``flask demo seed``: the demo shop (idempotent)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.db import get_session

demo_group = AppGroup("demo", help="Demo data.")


@demo_group.command("seed")
def seed() -> None:
    """Create the demo shop's categories, products, variants, stock and images (idempotent)."""
    from app.demo import seed as demo

    report = demo.seed(get_session())
    click.echo(
        f"demo shop: {report.categories} categories, {report.products} products, "
        f"{report.variants} variants ({report.created} new products)"
    )
