"""A big demo catalogue for measuring: the demo shop's 26 products plus generated ones.

``seed_catalogue(session, products=N)`` promises:
- the demo shop is seeded first (app/demo/seed.py), then products ``gen-00001`` ... are added
  until the shop has N (fewer than 26 asked: the demo shop alone);
- it is idempotent like the plain seed: generated products are found by slug, and only the
  missing ones are created, so a second run creates nothing;
- each generated product has a few variants (sizes for apparel, colours for goods, editions
  for digital downloads), a drawn picture per colour, tied to it (app/demo/images.py; one
  when it has no colours) and its opening stock as
  ledger rows: one ``receive`` movement per stocked variant, reference "demo-seed", the same
  row ``inventory.receive_stock`` writes, so ``on_hand == sum(stock_movements.delta)``;
- it is fast: the rows go in as a handful of bulk INSERTs, committed once at the end.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.demo import seed as demo
from app.models import Category, Product, ProductImage, ProductKind, Variant
from app.models.inventory import MovementReason, StockMovement

PREFIX = "gen-"

# category slug -> (motifs, adjectives, nouns); a generated product takes one of each.
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "apparel": (
        ("shirt", "sweater", "hoodie", "cap", "socks", "beanie"),
        ("Harbor", "Ridge", "Coastal", "Alpine", "Meadow", "Dune"),
        ("Tee", "Crewneck", "Hoodie", "Cap", "Socks", "Beanie"),
    ),
    "home-kitchen": (
        ("mug", "candle", "bottle", "blanket", "board", "bowl"),
        ("Stoneware", "Cedar", "Linen", "Olive", "Copper", "Clay"),
        ("Mug", "Candle", "Bottle", "Throw", "Board", "Bowl"),
    ),
    "stationery": (
        ("notebook", "pen", "card", "print", "tape", "notebook"),
        ("Dot Grid", "Brass", "Letterpress", "Dawn", "Washi", "Field"),
        ("Notebook", "Pen", "Cards", "Print", "Tape", "Planner"),
    ),
    "digital": (
        ("photo", "font", "book", "disc", "photo", "font"),
        ("Lumen", "Serif", "Handbook", "Ambient", "Prism", "Grotesk"),
        ("Editor", "Font", "Guide", "Album", "Filters", "Typeface"),
    ),
}
COLOURS = ("Navy", "Sand", "Forest", "Slate", "Sage", "Terracotta", "Ocean", "Mustard", "Clay")
EDITIONS = (("PERSONAL", "Personal license", 0), ("PRO", "Pro license", 5000))


@dataclass(frozen=True)
class CatalogueReport:
    products: int
    variants: int
    created: int


def seed_catalogue(session: Session, products: int, country: str = "US") -> CatalogueReport:
    """Seed the demo shop, then add generated products until there are ``products``."""
    demo.seed(session, country)
    count = max(0, products - len(demo.PRODUCTS))
    created = add_generated(session, count)
    specs = [*demo.PRODUCTS, *(generated_spec(n) for n in range(1, count + 1))]
    variants = sum(len(demo.variant_specs(s)) for s in specs)
    return CatalogueReport(len(specs), variants, created)


def add_generated(session: Session, count: int) -> int:
    """Make sure generated products 1..``count`` exist (and the demo's categories, which
    they are spread over); commit; how many were created."""
    begin_write(session)
    for position, (slug, name, desc) in enumerate(demo.CATEGORIES):
        demo.ensure_category(session, slug, name, desc, position)
    specs = [generated_spec(n) for n in range(1, count + 1)]
    taken = set(session.scalars(select(Product.slug).where(Product.slug.startswith(PREFIX))))
    missing = [s for s in specs if s["slug"] not in taken]
    if missing:
        _insert(session, missing, clock.utcnow())
    session.commit()
    return len(missing)


def generated_spec(n: int) -> dict[str, Any]:
    """The n-th generated product, in the plain seed's spec format (see app/demo/seed.py)."""
    cat = tuple(KINDS)[n % len(KINDS)]
    motifs, adjectives, nouns = KINDS[cat]
    digest = hashlib.sha256(f"{PREFIX}{n}".encode()).digest()
    pick = digest[0] % len(motifs)
    spec: dict[str, Any] = dict(
        slug=f"{PREFIX}{n:05d}",
        name=f"{adjectives[digest[1] % len(adjectives)]} {nouns[pick]} No. {n}",
        cat=cat,
        motif=motifs[pick],
        sku=f"GEN{n:05d}",
        price=500 + (digest[2] * 37) % 9500,
        age=digest[3] % 70,
        desc=f"A generated product for measuring the shop, number {n}. "
        f"Made in small batches from materials chosen to last.",
    )
    if cat == "digital":
        spec.update(
            digital=True, editions=[(c, label, spec["price"] + p) for c, label, p in EDITIONS]
        )
        spec["stock"] = {f"{spec['sku']}-{code}": 0 for code, _l, _p in EDITIONS}
    elif cat == "apparel":
        spec.update(sizes=("S", "M", "L"), colours=(COLOURS[digest[4] % len(COLOURS)],))
    else:
        first = digest[4] % len(COLOURS)
        spec["colours"] = tuple(COLOURS[(first + k) % len(COLOURS)] for k in range(3))
    if n % 13 == 0:  # a sold-out variant now and then
        spec.setdefault("stock", {})[demo.variant_specs(spec)[0].sku] = 0
    return spec


def _insert(session: Session, specs: list[dict[str, Any]], now: datetime) -> None:
    categories = dict(session.execute(select(Category.slug, Category.id)).all())
    product_ids = dict(
        session.execute(
            insert(Product).returning(Product.slug, Product.id),
            [_product_row(s, categories[s["cat"]], now) for s in specs],
        ).all()
    )
    variant_rows, stock = [], {}
    for spec in specs:
        for v in demo.variant_specs(spec):
            variant_rows.append(_variant_row(v, product_ids[spec["slug"]]))
            stock[v.sku] = v.stock
    variant_ids = dict(
        session.execute(insert(Variant).returning(Variant.sku, Variant.id), variant_rows).all()
    )
    movements = [
        dict(
            variant_id=variant_ids[sku],
            delta=units,
            reason=MovementReason.RECEIVE,
            reference=demo.REFERENCE,
            actor=demo.ACTOR,
            note="",
            created_at=now,
        )
        for sku, units in stock.items()
        if units > 0
    ]
    if movements:
        session.execute(insert(StockMovement), movements)
    images = [
        dict(row, product_id=product_ids[s["slug"]]) for s in specs for row in demo.image_rows(s)
    ]
    session.execute(insert(ProductImage), images)


def _product_row(spec: dict[str, Any], category_id: int, now: datetime) -> dict[str, Any]:
    return dict(
        slug=spec["slug"],
        name=spec["name"],
        description=spec["desc"],
        kind=ProductKind.DIGITAL if spec.get("digital") else ProductKind.PHYSICAL,
        category_id=category_id,
        featured=False,
        is_active=True,
        created_at=now - timedelta(days=spec["age"], minutes=len(spec["slug"])),
    )


def _variant_row(v: demo.VariantSpec, product_id: int) -> dict[str, Any]:
    return dict(
        product_id=product_id,
        sku=v.sku,
        name=v.name,
        size=v.size,
        colour=v.colour,
        price_cents=v.price_cents,
        currency=demo.CURRENCY,
        on_hand=v.stock,  # and one "receive" movement of the same units below
        allow_backorder=v.allow_backorder,
        position=v.position,
        weight_grams=v.weight_grams,
    )
