"""``flask demo seed``: the demo shop (idempotent)."""

from __future__ import annotations

import click
from flask import current_app
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
    """Create the demo shop's categories, products, variants, stock, images, shipping zones,
    tax rate and discount codes (idempotent)."""
    from app.demo import seed as demo

    country = current_app.config.get("SHOP_COUNTRY") or "US"

    if products is not None:
        from app.demo.catalogue import seed_catalogue

        big = seed_catalogue(get_session(), products, country)
        click.echo(
            f"demo catalogue: {big.products} products, {big.variants} variants "
            f"({big.created} new generated products)"
        )
        return
    report = demo.seed(get_session(), country)
    click.echo(
        f"demo shop: {report.categories} categories, {report.products} products, "
        f"{report.variants} variants ({report.created} new products)"
    )
