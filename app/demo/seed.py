"""The demo shop: four categories, 26 products (four of them digital), their variants, pictures
and opening stock.

``seed(session)`` promises:
- it is idempotent: rows are found by slug (categories, products) and SKU (variants), existing
  rows are left exactly as they are, and only what is missing is created, so a second run
  creates nothing;
- every unit of stock goes through the ledger (``inventory.receive_stock``, reference
  "demo-seed"), so ``on_hand == sum(stock_movements.delta)`` holds; a digital variant's
  stock is its pool of demo license keys (two variants start with 2 and 0 keys, so
  partial delivery and waiting for keys can be seen), and digital goods sell beyond it;
- the catalogue exercises the shop: featured products, sizes and colours, low-stock and
  sold-out variants, a back-orderable one, and creation dates spread over ten weeks;
- a product sold in colours has a drawing per colour, tied to it (``ProductImage.colour``);
- physical variants weigh what such goods weigh (``GRAMS`` by motif; a bigger edition more),
  digital ones nothing;
- it sells like a shop (``app.demo.selling``): a domestic and an international shipping zone
  with rates, one tax rate for the shop's country, and the codes WELCOME10 and FIRST100;
- it commits once, at the end.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.demo import selling
from app.demo.images import alt_text, product_svg
from app.models import Category, LicenseKey, Product, ProductImage, ProductKind, Variant
from app.services.stock import inventory

REFERENCE = "demo-seed"
ACTOR = "demo"
CURRENCY = "USD"
SIZES = ("S", "M", "L", "XL")
# What one unit of a physical product weighs, by its drawing's motif (grams, packed).
GRAMS = {
    "shirt": 220, "sweater": 520, "hoodie": 700, "cap": 140, "socks": 90, "tote": 560,
    "beanie": 110, "mug": 420, "candle": 380, "bottle": 400, "blanket": 1500, "board": 950,
    "bowl": 1700, "notebook": 330, "pen": 70, "card": 160, "print": 260, "tape": 70,
}  # fmt: skip


@dataclass(frozen=True)
class SeedReport:
    """How big the demo shop is after seeding, and how many of its products this run added."""

    categories: int
    products: int
    variants: int
    created: int


@dataclass(frozen=True)
class VariantSpec:
    sku: str
    name: str
    size: str | None
    colour: str | None
    price_cents: int
    stock: int
    allow_backorder: bool
    position: int
    weight_grams: int = 0


# fmt: off
# (slug, name, description); position follows the order.
CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("apparel", "Apparel",
     "Soft basics and everyday layers, cut from organic cotton, linen and merino."),
    ("home-kitchen", "Home & Kitchen",
     "Stoneware, textiles and small tools that make a kitchen feel lived in."),
    ("stationery", "Stationery", "Notebooks, pens and prints for desks that get used."),
    ("digital", "Digital",
     "Software licenses, type and downloads, delivered by email the moment you pay."),
)

# One dict per product. Keys: slug, name, cat (category slug), motif (placeholder drawing),
# sku (prefix), price (cents), age (days since it was added), desc; optional: sizes, colours
# (their product gives the variants), editions ((code, label, price) each, for variants that
# differ in price), tint (the picture's colour when no colours are sold), featured, digital,
# stock ({sku: units}; others get 5-60, digital 0) and backorder (SKUs that may be sold below
# zero). A product with none of sizes, colours or editions has one variant, SKU = prefix.
PRODUCTS: tuple[dict[str, Any], ...] = (
    dict(slug="harbor-organic-tee", name="Harbor Organic Tee", cat="apparel", motif="shirt",
         sku="TEE", price=2800, age=3, featured=True, sizes=SIZES, colours=("Navy", "Sand"),
         stock={"TEE-SAND-XL": 0, "TEE-NAVY-S": 2},
         desc="A midweight tee in combed organic cotton that keeps its shape wash after wash. "
              "Relaxed through the body with a ribbed crew neck that never bacons."),
    dict(slug="fieldstone-crewneck", name="Fieldstone Crewneck", cat="apparel",
         motif="sweater", sku="CREW", price=5800, age=12, sizes=SIZES,
         colours=("Oat", "Forest"), stock={"CREW-FOREST-S": 3, "CREW-OAT-XL": 0},
         desc="Loopback French terry brushed soft on the inside, with ribbed cuffs and hem. "
              "Garment-dyed for a lived-in colour from the first wear."),
    dict(slug="tidewater-hoodie", name="Tidewater Hoodie", cat="apparel", motif="hoodie",
         sku="HOOD", price=6400, age=6, featured=True, sizes=SIZES, colours=("Charcoal",),
         stock={"HOOD-CHARCOAL-XL": 1},
         desc="Our heaviest fleece, with a double-layer hood and a roomy kangaroo pocket. "
              "Made for cold harbour mornings and long weekends indoors."),
    dict(slug="everyday-canvas-cap", name="Everyday Canvas Cap", cat="apparel", motif="cap",
         sku="CAP", price=2400, age=40, colours=("Olive", "Black", "Stone"),
         stock={"CAP-STONE": 0},
         desc="A six-panel cap in washed cotton canvas with a brass slide buckle. "
              "Unstructured crown, pre-curved brim, one size fits most."),
    dict(slug="merino-hiking-socks", name="Merino Hiking Socks", cat="apparel", motif="socks",
         sku="SOCK", price=1800, age=25, sizes=("S", "M", "L"), colours=("Rust",),
         stock={"SOCK-RUST-L": 2},
         desc="Cushioned merino socks with a reinforced heel and toe for long days on the trail. "
              "Naturally odour-resistant, so they are fine for a second day."),
    dict(slug="linen-camp-shirt", name="Linen Camp Shirt", cat="apparel", motif="shirt",
         sku="CAMP", price=6800, age=1, sizes=SIZES, colours=("Sand",),
         stock={"CAMP-SAND-XL": 0}, backorder={"CAMP-SAND-XL"},
         desc="A boxy short-sleeve shirt in stonewashed European linen with a camp collar. "
              "Gets softer with every wash; XL is sewn to order and ships within two weeks."),
    dict(slug="waxed-canvas-tote", name="Waxed Canvas Tote", cat="apparel", motif="tote",
         sku="TOTE", price=4200, age=52, colours=("Tan", "Black"), stock={"TOTE-BLACK": 3},
         desc="A weatherproof tote in waxed cotton canvas with leather handles and an inner "
              "pocket. Big enough for a laptop and the weekly shop."),
    dict(slug="ribbed-knit-beanie", name="Ribbed Knit Beanie", cat="apparel", motif="beanie",
         sku="BEANIE", price=2200, age=33, colours=("Mustard", "Navy", "Grey"),
         desc="A deep-cuffed beanie knitted from a soft wool and recycled nylon blend. "
              "Warm without the itch, and finished with a proper pom-pom."),
    dict(slug="stoneware-mug", name="Stoneware Mug, 12 oz", cat="home-kitchen", motif="mug",
         sku="MUG", price=2200, age=9, featured=True,
         colours=("Speckled White", "Slate", "Sage"), stock={"MUG-SAGE": 1},
         desc="Wheel-thrown stoneware with a satin glaze and a handle that fits three fingers. "
              "Dishwasher and microwave safe; each one is slightly different."),
    dict(slug="pour-over-coffee-set", name="Pour-Over Coffee Set", cat="home-kitchen",
         motif="mug", sku="POUR", price=4800, age=60, tint="Slate",
         desc="A ceramic dripper, a glass carafe and fifty paper filters in one gift-ready box. "
              "Brews two generous cups in about three minutes."),
    dict(slug="cedar-smoke-soy-candle", name="Cedar & Smoke Soy Candle", cat="home-kitchen",
         motif="candle", sku="CANDLE", price=2600, age=15, featured=True, tint="Clay",
         editions=(("8OZ", "8 oz", 2600), ("16OZ", "16 oz", 3800)),
         stock={"CANDLE-16OZ": 2},
         desc="Hand-poured soy wax with notes of cedarwood, vetiver and a little campfire smoke. "
              "A cotton wick burns clean for up to 45 hours in the 8 oz jar."),
    dict(slug="insulated-steel-bottle", name="Insulated Steel Bottle", cat="home-kitchen",
         motif="bottle", sku="BOTTLE", price=3200, age=20,
         colours=("Ocean", "Moss", "Black"), stock={"BOTTLE-MOSS": 0},
         desc="A double-walled steel bottle that keeps drinks cold for a day or hot for twelve "
              "hours. Holds 20 oz and fits most cup holders."),
    dict(slug="waffle-cotton-throw", name="Waffle Cotton Throw", cat="home-kitchen",
         motif="blanket", sku="THROW", price=8900, age=4, featured=True,
         colours=("Oat", "Clay"), stock={"THROW-CLAY": 0}, backorder={"THROW-CLAY"},
         desc="A generous waffle-weave throw in heavy Turkish cotton, finished with a twisted "
              "fringe. Clay is woven to order and ships in about three weeks."),
    dict(slug="olivewood-cutting-board", name="Olivewood Cutting Board", cat="home-kitchen",
         motif="board", sku="BOARD", price=5400, age=45, tint="Tan",
         desc="Cut from a single piece of Tunisian olivewood, so no two grains are alike. "
              "Oil it once a month and it will outlast the kitchen."),
    dict(slug="linen-tea-towels", name="Linen Tea Towels, Set of 3", cat="home-kitchen",
         motif="blanket", sku="TOWEL", price=2400, age=30, tint="Sage",
         desc="Three lint-free linen towels with a hanging loop, in stripes, checks and plain. "
              "They dry glasses without streaks and get better with use."),
    dict(slug="nesting-ceramic-bowls", name="Nesting Ceramic Bowls", cat="home-kitchen",
         motif="bowl", sku="BOWL", price=4600, age=70, tint="Terracotta",
         stock={"BOWL": 3},
         desc="Four bowls that nest into one, from a dipping dish to a salad bowl. "
              "Glazed inside, left raw and tactile outside."),
    dict(slug="dot-grid-notebook-a5", name="Dot Grid Notebook A5", cat="stationery",
         motif="notebook", sku="NOTE", price=1800, age=8, featured=True,
         colours=("Black", "Terracotta", "Sage"),
         desc="192 numbered pages of 100 gsm paper that takes fountain pen without bleeding. "
              "Lies flat, with an elastic closure and two ribbon markers."),
    dict(slug="brass-bolt-action-pen", name="Brass Bolt-Action Pen", cat="stationery",
         motif="pen", sku="PEN", price=4400, age=18, tint="Mustard", stock={"PEN": 2},
         desc="A solid brass pen with a satisfying bolt-action click that will patina with use. "
              "Takes standard Parker-style refills."),
    dict(slug="weekly-desk-planner", name="Weekly Desk Planner", cat="stationery",
         motif="notebook", sku="PLANNER", price=2600, age=36, tint="Ocean",
         desc="An undated weekly planner, so you can start any Monday of the year. "
              "Tear-off pages with room for priorities, habits and a to-do list."),
    dict(slug="letterpress-greeting-cards", name="Letterpress Greeting Cards", cat="stationery",
         motif="card", sku="CARDS", price=1600, age=27, tint="Terracotta",
         desc="Six blank cards printed by hand on cotton paper, with kraft envelopes. "
              "Deep impressions you can feel with your thumb."),
    dict(slug="mountain-dawn-art-print", name="Mountain Dawn Art Print", cat="stationery",
         motif="print", sku="PRINT", price=2400, age=2, featured=True, tint="Ocean",
         editions=(("A4", "A4", 2400), ("A3", "A3", 3400), ("A2", "A2", 4800)),
         stock={"PRINT-A2": 1},
         desc="A giclée print of first light over the ridge, on 310 gsm archival cotton rag. "
              "Ships rolled in a tube, unframed."),
    dict(slug="washi-tape-trio", name="Washi Tape Trio", cat="stationery", motif="tape",
         sku="TAPE", price=1200, age=48, tint="Sage", stock={"TAPE": 0},
         desc="Three rolls of Japanese paper tape in muted patterns, easy to tear and reposition. "
              "For journals, gift wrap and labelling jars."),
    dict(slug="lumen-photo-editor", name="Lumen Photo Editor", cat="digital", motif="photo",
         sku="LUMEN", price=4900, age=5, featured=True, digital=True,
         stock={"LUMEN-PERSONAL": 12, "LUMEN-PRO": 2},
         editions=(("PERSONAL", "Personal license", 4900), ("PRO", "Pro license", 12900)),
         desc="A fast, non-destructive photo editor for macOS, Windows and Linux with RAW support. "
              "Personal covers two of your own machines; Pro adds commercial use and five seats."),
    dict(slug="fieldnote-serif-font", name="Fieldnote Serif Font Family", cat="digital",
         motif="font", sku="FONT", price=3900, age=22, digital=True,
         stock={"FONT-DESKTOP": 8, "FONT-WEB": 0},
         editions=(("DESKTOP", "Desktop license", 3900), ("WEB", "Desktop + web license", 7900)),
         desc="A warm book serif in eight weights with true italics and old-style figures. "
              "The web license adds WOFF2 files for up to 100,000 monthly page views."),
    dict(slug="small-shop-handbook", name="The Small Shop Handbook", cat="digital",
         motif="book", sku="EBOOK", price=1900, age=38, digital=True,
         editions=(("EPUB-PDF", "EPUB + PDF", 1900),),
         desc="A practical guide to running an independent online shop, from pricing to shipping. "
              "240 pages, DRM-free, with a worksheet pack."),
    dict(slug="slow-mornings-album", name="Slow Mornings (Album)", cat="digital", motif="disc",
         sku="ALBUM", price=900, age=14, digital=True,
         editions=(("FLAC-MP3", "FLAC + MP3", 900),),
         desc="Eleven ambient tracks recorded on a creaky upright piano and tape loops. "
              "Lossless FLAC and 320 kbps MP3, yours to keep."),
)
# fmt: on


def seed(session: Session, country: str = "US") -> SeedReport:
    """Create whatever part of the demo shop is missing, then commit. ``country`` is the
    shop's (``SHOP_COUNTRY``): its domestic shipping zone and its tax rate."""
    begin_write(session)
    categories = {
        slug: ensure_category(session, slug, name, desc, position)
        for position, (slug, name, desc) in enumerate(CATEGORIES)
    }
    now = clock.utcnow()
    existing = {
        p.slug: p
        for p in session.scalars(
            select(Product).where(Product.slug.in_([spec["slug"] for spec in PRODUCTS]))
        )
    }
    created = variants = 0
    for spec in PRODUCTS:
        product = existing.get(spec["slug"])
        if product is None:
            product = _create_product(session, spec, categories[spec["cat"]], now)
            created += 1
        specs = variant_specs(spec)
        _ensure_variants(session, product, specs)
        _ensure_image(session, product, spec)
        variants += len(specs)
    selling.ensure_selling(session, country, CURRENCY)
    session.commit()
    return SeedReport(len(CATEGORIES), len(PRODUCTS), variants, created)


def variant_specs(spec: dict[str, Any]) -> list[VariantSpec]:
    """The variants a product spec describes, with their opening stock."""
    if "editions" in spec:
        size_field = not spec.get("digital", False)
        rows = [
            (f"{spec['sku']}-{code}", label, label if size_field else None, None, price)
            for code, label, price in spec["editions"]
        ]
    else:
        rows = []
        for colour in spec.get("colours") or (None,):
            for size in spec.get("sizes") or (None,):
                sku = "-".join(_code(part) for part in (spec["sku"], colour, size) if part)
                name = " / ".join(part for part in (size, colour) if part) or "Standard"
                rows.append((sku, name, size, colour, spec["price"]))
    return [
        VariantSpec(
            sku,
            name,
            size,
            colour,
            price,
            _opening_stock(spec, sku),
            # Digital goods sell beyond their keys: the order waits for the next upload.
            sku in spec.get("backorder", ()) or bool(spec.get("digital")),
            position,
            _grams(spec, position),
        )
        for position, (sku, name, size, colour, price) in enumerate(rows)
    ]


def _grams(spec: dict[str, Any], position: int) -> int:
    """A unit's weight: nothing for a download; a bigger edition weighs half as much again."""
    if spec.get("digital"):
        return 0
    grams = GRAMS.get(spec["motif"], 250)
    return grams * (2 + position) // 2 if "editions" in spec else grams


def ensure_category(session: Session, slug: str, name: str, desc: str, pos: int) -> Category:
    category = session.scalar(select(Category).where(Category.slug == slug))
    if category is None:
        category = Category(slug=slug, name=name, description=desc, position=pos)
        session.add(category)
        session.flush()
    return category


def _create_product(
    session: Session, spec: dict[str, Any], category: Category, now: datetime
) -> Product:
    product = Product(
        slug=spec["slug"],
        name=spec["name"],
        description=spec["desc"],
        kind=ProductKind.DIGITAL if spec.get("digital") else ProductKind.PHYSICAL,
        category_id=category.id,
        featured=spec.get("featured", False),
        is_active=True,
        created_at=now - timedelta(days=spec["age"], hours=len(spec["slug"])),
    )
    session.add(product)
    session.flush()
    return product


def _ensure_variants(session: Session, product: Product, specs: list[VariantSpec]) -> None:
    """Create the variants whose SKU is not taken yet and receive their opening stock."""
    taken = set(session.scalars(select(Variant.sku).where(Variant.sku.in_([s.sku for s in specs]))))
    for spec in specs:
        if spec.sku in taken:
            continue
        variant = Variant(
            product_id=product.id,
            sku=spec.sku,
            name=spec.name,
            size=spec.size,
            colour=spec.colour,
            price_cents=spec.price_cents,
            currency=CURRENCY,
            allow_backorder=spec.allow_backorder,
            position=spec.position,
            weight_grams=spec.weight_grams,
        )
        session.add(variant)
        session.flush()
        if spec.stock > 0:
            if product.kind is ProductKind.DIGITAL:  # a digital variant's stock is its keys
                session.add_all(
                    LicenseKey(
                        variant_id=variant.id, code=_demo_key(spec.sku, n), imported_by=ACTOR
                    )
                    for n in range(spec.stock)
                )
            inventory.receive_stock(
                session, variant.id, spec.stock, reference=REFERENCE, actor=ACTOR, commit=False
            )


def _ensure_image(session: Session, product: Product, spec: dict[str, Any]) -> None:
    has_image = session.scalar(
        select(ProductImage.id).where(ProductImage.product_id == product.id).limit(1)
    )
    if has_image is not None:
        return
    session.add_all(ProductImage(product_id=product.id, **row) for row in image_rows(spec))


def image_rows(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The product's drawings: one per colour it comes in, tied to that colour (the product
    page shows the chosen colour's), else one in its tint for the product as a whole."""
    colours = spec.get("colours") or ()
    pictures = [(c, c) for c in colours] or [(spec.get("tint"), None)]
    return [
        dict(
            content_type="image/svg+xml",
            data=product_svg(spec["name"], spec["motif"], drawn, seed=spec["slug"]),
            alt=alt_text(spec["name"], spec["motif"], colour),
            colour=colour,
            position=position,
        )
        for position, (drawn, colour) in enumerate(pictures)
    ]


def _demo_key(sku: str, n: int) -> str:
    digest = hashlib.sha256(f"{sku}:{n}".encode()).hexdigest().upper()
    return f"DEMO-{sku}-{digest[:4]}-{digest[4:8]}-{digest[8:12]}"


def _opening_stock(spec: dict[str, Any], sku: str) -> int:
    """Units to receive: the spec's figure, else 5-60 from the SKU (digital goods: keys)."""
    if sku in spec.get("stock", {}):
        return spec["stock"][sku]
    return 5 + hashlib.sha256(sku.encode("utf-8")).digest()[0] % 56


def _code(part: str) -> str:
    """An SKU segment: "Speckled White" -> "SPECKLEDWHITE"."""
    return re.sub(r"[^A-Z0-9]", "", part.upper())
