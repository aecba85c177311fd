"""``flask demo seed``: the demo shop (idempotent)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.db import get_session

demo_group = AppGroup("demo", help="Demo data.")


@demo_group.command("seed")
@click.option(
    "--products",
    type=click.IntRange(min=0, max=100_000),
    default=None,
    help="Grow the catalogue to this many products (the demo's 26 plus generated ones).",
)
def seed(products: int | None) -> None:
    """Create the demo shop's categories, products, variants, stock and images (idempotent)."""
    from app.demo import seed as demo

    if products is not None:
        from app.demo.catalogue import seed_catalogue

        big = seed_catalogue(get_session(), products)
        click.echo(
            f"demo catalogue: {big.products} products, {big.variants} variants "
            f"({big.created} new generated products)"
        )
        return
    report = demo.seed(get_session())
    click.echo(
        f"demo shop: {report.categories} categories, {report.products} products, "
        f"{report.variants} variants ({report.created} new products)"
    )
