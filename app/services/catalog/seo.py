"""What search engines and link previews read: structured data (schema.org JSON-LD), the
sitemap and robots.txt, and the text of meta tags.

Nothing here knows about a request: callers pass the shop's absolute base URL (or functions
building absolute URLs) in. The JSON-LD builders return plain dicts; ``jsonld_text`` writes
them with ``<``, ``>``, ``&`` and ``'`` escaped, so that no value (a product named
``</script>``) can end the ``<script type="application/ld+json">`` block it goes in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Category, Product, Variant
from app.money import plain_decimal
from app.services.catalog.options import LOW_STOCK

if TYPE_CHECKING:
    from app.services.stock.inventory import Availability

SCHEMA = "https://schema.org"
IN_STOCK = f"{SCHEMA}/InStock"
OUT_OF_STOCK = f"{SCHEMA}/OutOfStock"
BACK_ORDER = f"{SCHEMA}/BackOrder"
LIMITED = f"{SCHEMA}/LimitedAvailability"

# Pages no search engine should list: personal, transactional or the owner's.
NOINDEX_BLUEPRINTS = frozenset(
    {"cart", "checkout", "account", "orders", "admin", "testpay", "razorpay_pay"}
)
# What robots.txt asks crawlers to leave alone (the same areas, by path).
DISALLOWED_PATHS = (
    "/cart",
    "/checkout",
    "/account",
    "/orders",
    "/admin",
    "/webhooks",
    "/metrics",
)
META_DESCRIPTION_LENGTH = 160
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"

UrlFor = Callable[[str], str]


def meta_text(text: str | None, limit: int = META_DESCRIPTION_LENGTH) -> str:
    """One line of at most ``limit`` characters, cut at a word, for a meta description."""
    flat = re.sub(r"\s+", " ", text or "").strip()
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,.;:")
    return f"{cut}…"


def offer_availability(avail: Availability | None) -> str:
    """Live availability (live holds count, expired ones do not) as a schema.org URL: the
    page's "Only N left" is ``LimitedAvailability``."""
    if avail is None:
        return OUT_OF_STOCK
    if avail.available > LOW_STOCK:
        return IN_STOCK
    if avail.available > 0:
        return LIMITED
    return BACK_ORDER if avail.allow_backorder else OUT_OF_STOCK


def product_data(
    product: Product,
    stock: Mapping[int, Availability],
    *,
    url: str,
    image_url: str | None,
    offer_url: Callable[[Variant], str] | None = None,
) -> dict:
    """A schema.org ``Product`` with one ``Offer`` per variant, each at ``offer_url(variant)``
    (the page with that variant chosen; the product's ``url`` when not given)."""
    data: dict = {
        "@context": SCHEMA,
        "@type": "Product",
        "name": product.name,
        "description": meta_text(product.description, 5000),
        "url": url,
        "offers": [
            {
                "@type": "Offer",
                "sku": v.sku,
                "name": v.label,
                "price": plain_decimal(v.price_cents, v.currency),
                "priceCurrency": v.currency.upper(),
                "availability": offer_availability(stock.get(v.id)),
                "url": offer_url(v) if offer_url else url,
            }
            for v in product.variants
        ],
    }
    if product.variants:
        data["sku"] = product.variants[0].sku
    if image_url:
        data["image"] = [image_url]
    return data


def breadcrumb_data(trail: list[tuple[str, str]]) -> dict:
    """A schema.org ``BreadcrumbList`` from ``(name, absolute url)`` pairs, outermost first."""
    return {
        "@context": SCHEMA,
        "@type": "BreadcrumbList",
        "itemListElement": [
            {"@type": "ListItem", "position": i, "name": name, "item": url}
            for i, (name, url) in enumerate(trail, start=1)
        ],
    }


def home_data(shop_name: str, home_url: str, search_url: str) -> list[dict]:
    """The shop as an ``Organization`` and a ``WebSite`` with its search box."""
    return [
        {"@context": SCHEMA, "@type": "Organization", "name": shop_name, "url": home_url},
        {
            "@context": SCHEMA,
            "@type": "WebSite",
            "name": shop_name,
            "url": home_url,
            "potentialAction": {
                "@type": "SearchAction",
                "target": f"{search_url}?q={{search_term_string}}",
                "query-input": "required name=search_term_string",
            },
        },
    ]


# Characters that could end the block or open markup, written as JSON escapes instead.
_HTML_SAFE = str.maketrans(
    {
        "<": "\\u003c",
        ">": "\\u003e",
        "&": "\\u0026",
        "'": "\\u0027",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)


def jsonld_text(data: dict | list) -> str:
    """JSON for inside ``<script type="application/ld+json">``: no ``</script>``, ``<!--``
    or ``&`` can appear in it, whatever the shop's texts hold (JSON parsers read it as is)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).translate(_HTML_SAFE)


# ---------------------------------------------------------------- sitemap and robots.txt


def _lastmod_column(model):
    """``updated_at`` where the model has one (``lastmod`` is left out otherwise)."""
    return getattr(model, "updated_at", None)


def _live_categories():
    columns = [Category.slug, _lastmod_column(Category)]
    stmt = select(*[c for c in columns if c is not None]).order_by(Category.position, Category.id)
    active = getattr(Category, "is_active", None)
    return stmt.where(active.is_(True)) if active is not None else stmt


def _live_products():
    columns = [Product.slug, _lastmod_column(Product)]
    stmt = select(*[c for c in columns if c is not None]).where(Product.is_active.is_(True))
    return stmt.order_by(Product.id)


def _lastmod(row) -> str | None:
    moment = row[1] if len(row) > 1 else None
    if not isinstance(moment, datetime):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # stored UTC (SQLite drops the zone)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _url_entry(loc: str, lastmod: str | None) -> str:
    stamp = f"<lastmod>{lastmod}</lastmod>" if lastmod else ""
    return f"<url><loc>{escape(loc)}</loc>{stamp}</url>\n"


def sitemap_entries(session: Session) -> tuple[list, list]:
    """Slugs (and last changes) of every live category and product: two queries in all."""
    categories = session.execute(_live_categories()).all()
    products = session.execute(_live_products()).all()
    return categories, products


def sitemap_xml(
    entries: tuple[list, list], *, home_url: str, category_url: UrlFor, product_url: UrlFor
) -> Iterator[str]:
    """The sitemap, a line per URL, to stream as it is written."""
    categories, products = entries
    yield f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="{SITEMAP_NS}">\n'
    yield _url_entry(home_url, None)
    for row in categories:
        yield _url_entry(category_url(row[0]), _lastmod(row))
    for row in products:
        yield _url_entry(product_url(row[0]), _lastmod(row))
    yield "</urlset>\n"


def robots_txt(sitemap_url: str) -> str:
    """Allow the catalogue; keep crawlers out of carts, checkouts, accounts and the admin."""
    lines = ["User-agent: *", "Allow: /"]
    lines += [f"Disallow: {path}" for path in DISALLOWED_PATHS]
    lines += ["", f"Sitemap: {sitemap_url}", ""]
    return "\n".join(lines)
