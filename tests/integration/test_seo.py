"""What search engines and link previews read: titles, descriptions, canonical URLs, robots,
OpenGraph and Twitter tags, JSON-LD, /sitemap.xml and /robots.txt."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from flask import url_for

from app import clock
from app.models import ProductImage
from app.services.stock import holds
from tests.conftest import make_test_app
from tests.factories import CategoryFactory, ProductFactory, variant_with_stock

BASE = "https://shop.example"
SITEMAP_NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


@pytest.fixture
def app(database_url):
    app = make_test_app(database_url, SHOP_BASE_URL=BASE, SHOP_NAME="Holdfast Test Shop")
    yield app
    app.extensions["holdfast.db"].dispose()


class Head(HTMLParser):
    """The tags of a page that crawlers read, and the text of its ld+json blocks."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self.title = ""
        self.jsonld: list = []
        self._in: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta" and ("name" in a or "property" in a):
            self.meta[a.get("name") or a["property"]] = a.get("content", "")
        elif tag == "link" and "rel" in a:
            self.links[a["rel"]] = a.get("href", "")
        elif tag == "title" or (tag == "script" and a.get("type") == "application/ld+json"):
            self._in = tag

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in == "script":
            self.jsonld.append(json.loads(data))


def head_of(client, url: str) -> Head:
    response = client.get(url)
    assert response.status_code == 200, url
    return Head(response.get_data(as_text=True))


def _of_type(head: Head, kind: str) -> dict:
    (found,) = [d for d in head.jsonld if d.get("@type") == kind]
    return found


@pytest.fixture
def shelf(db):
    """A category of two products: a tee with a photo and two sizes, and a plain mug."""
    cat = CategoryFactory(slug="tees", name="Tees", description="Soft  cotton\n tees.")
    tee = ProductFactory(
        slug="harbor-tee", name="Harbor Tee", description="A heavy tee.\n\nMade well.", category=cat
    )
    small = variant_with_stock(db, 1, product=tee, sku="TEE-S", name="S", price_cents=2800)
    large = variant_with_stock(db, 0, product=tee, sku="TEE-L", name="L", price_cents=3050)
    image = ProductImage(product_id=tee.id, data=b"<svg/>", alt="The tee", position=0)
    db.add(image)
    db.commit()
    variant_with_stock(db, 3, product__slug="mug", product__name="Mug", product__category=cat)
    return {"tee": tee, "small": small, "large": large, "image": image, "category": cat}


def test_home_has_title_description_canonical_and_the_shop_as_structured_data(client, shelf):
    head = head_of(client, "/?utm_source=x")
    assert head.title == "Holdfast Test Shop"
    assert "well-made things" in head.meta["description"]
    assert head.links["canonical"] == f"{BASE}/"
    assert "robots" not in head.meta
    assert head.meta["og:type"] == "website"
    assert head.meta["og:url"] == f"{BASE}/"
    assert head.meta["twitter:card"] == "summary"
    assert _of_type(head, "Organization")["url"] == f"{BASE}/"
    site = _of_type(head, "WebSite")
    assert site["potentialAction"]["target"] == f"{BASE}/search?q={{search_term_string}}"


def test_category_pages_canonical_keeps_only_the_page_number(app, client, shelf):
    app.config["CATALOG_PAGE_SIZE"] = 1
    first = head_of(client, "/category/tees?sort=price_desc")
    assert first.title == "Tees · Holdfast Test Shop"
    assert first.meta["description"] == "Soft cotton tees."
    assert first.links["canonical"] == f"{BASE}/category/tees"
    second = head_of(client, "/category/tees?sort=name&page=2")
    assert second.links["canonical"] == f"{BASE}/category/tees?page=2"
    assert second.meta["og:url"] == f"{BASE}/category/tees?page=2"
    assert "robots" not in second.meta


def test_product_page_has_open_graph_twitter_and_canonical_tags(app, client, shelf):
    head = head_of(client, f"/products/harbor-tee?variant={shelf['large'].id}")
    with app.test_request_context():
        image_url = BASE + url_for("media.image", image_id=shelf["image"].id)
    assert head.title == "Harbor Tee · Holdfast Test Shop"
    assert head.meta["description"] == "A heavy tee. Made well."
    assert head.links["canonical"] == f"{BASE}/products/harbor-tee"
    assert head.meta["og:type"] == "product"
    assert head.meta["og:title"] == "Harbor Tee · Holdfast Test Shop"
    assert head.meta["og:description"] == "A heavy tee. Made well."
    assert head.meta["og:url"] == f"{BASE}/products/harbor-tee"
    assert head.meta["og:image"] == image_url
    assert head.meta["twitter:card"] == "summary_large_image"
    assert head.meta["twitter:image"] == head.meta["og:image"]


def test_product_json_ld_has_an_offer_per_variant_and_breadcrumbs(client, shelf):
    head = head_of(client, "/products/harbor-tee")
    product = _of_type(head, "Product")
    assert product["name"] == "Harbor Tee"
    assert product["url"] == f"{BASE}/products/harbor-tee"
    assert product["image"] == [head.meta["og:image"]]
    offers = {o["sku"]: o for o in product["offers"]}
    assert offers["TEE-S"]["price"] == "28.00"
    assert offers["TEE-L"]["price"] == "30.50"
    assert offers["TEE-S"]["priceCurrency"] == "USD"
    assert offers["TEE-S"]["availability"] == "https://schema.org/LimitedAvailability"  # 1 left
    assert offers["TEE-L"]["availability"] == "https://schema.org/OutOfStock"
    crumbs = _of_type(head, "BreadcrumbList")["itemListElement"]
    assert [(c["position"], c["name"], c["item"]) for c in crumbs] == [
        (1, "Home", f"{BASE}/"),
        (2, "Tees", f"{BASE}/category/tees"),
        (3, "Harbor Tee", f"{BASE}/products/harbor-tee"),
    ]


def _availability(client, sku: str) -> str:
    product = _of_type(head_of(client, "/products/harbor-tee"), "Product")
    return {o["sku"]: o["availability"] for o in product["offers"]}[sku]


def test_offer_availability_follows_live_holds_not_expired_ones(client, db, shelf):
    small = shelf["small"]
    holds.take_hold(db, {small.id: 1}, ttl_minutes=1, now=clock.utcnow() - timedelta(hours=1))
    # the expired hold frees its unit: one left, "Only 1 left" on the page
    assert _availability(client, "TEE-S") == "https://schema.org/LimitedAvailability"
    holds.take_hold(db, {small.id: 1})  # the last unit
    assert _availability(client, "TEE-S") == "https://schema.org/OutOfStock"
    small.allow_backorder = True
    db.commit()
    assert _availability(client, "TEE-S") == "https://schema.org/BackOrder"


def test_a_product_name_cannot_break_out_of_the_json_ld_block(client, db):
    name = "</script><script>alert(1)</script> <!-- & 'quotes' \"too\" \u2028"
    variant_with_stock(db, 1, product__slug="sneaky", product__name=name)
    html = client.get("/products/sneaky").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert "<!--" not in html
    head = Head(html)
    assert _of_type(head, "Product")["name"] == name
    assert head.meta["og:title"] == f"{name} · Holdfast Test Shop"


@pytest.mark.parametrize(
    "url", ["/search?q=tee", "/search?q=tee&page=2", "/search"], ids=["q", "page", "empty"]
)
def test_search_pages_are_noindex_with_a_canonical_free_of_the_query(client, shelf, url):
    head = head_of(client, url)
    assert head.meta["robots"] == "noindex, follow"
    assert head.links["canonical"] == f"{BASE}/search"


@pytest.mark.parametrize(
    "url", ["/cart", "/checkout", "/login", "/register", "/account", "/orders/link"]
)
def test_personal_and_transactional_pages_are_noindex(client, db, url):
    response = client.get(url, follow_redirects=True)
    assert response.status_code == 200, url
    head = Head(response.get_data(as_text=True))
    assert head.meta["robots"] == "noindex, nofollow", url
    assert "canonical" not in head.links


def test_admin_pages_are_noindex(owner):
    response = owner.get("/admin")
    assert response.status_code == 200, response.status_code
    head = Head(response.get_data(as_text=True))
    assert head.meta["robots"] == "noindex, nofollow"


def test_without_a_base_url_setting_links_use_the_requests_host(app, client, shelf):
    app.config["SHOP_BASE_URL"] = ""
    head = head_of(client, "/products/harbor-tee")
    assert head.links["canonical"] == "http://localhost/products/harbor-tee"
    robots = client.get("/robots.txt").get_data(as_text=True)
    assert "Sitemap: http://localhost/sitemap.xml" in robots


def test_sitemap_lists_exactly_the_live_categories_and_products(client, db, shelf):
    archived = ProductFactory(slug="old-tee", is_active=False, category=shelf["category"])
    assert archived.id
    empty = CategoryFactory(slug="empty-shelf")
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    root = ET.fromstring(response.get_data())
    locs = [loc.text for loc in root.findall("s:url/s:loc", SITEMAP_NS)]
    assert sorted(locs) == sorted(
        [
            f"{BASE}/",
            f"{BASE}/category/tees",
            f"{BASE}/category/{empty.slug}",
            f"{BASE}/products/harbor-tee",
            f"{BASE}/products/mug",
        ]
    )


def test_sitemap_costs_the_same_queries_for_many_products(app, client, db, shelf):
    from sqlalchemy import event

    def count_queries() -> int:
        seen = []
        listener = lambda *args: seen.append(1)  # noqa: E731
        engine = app.extensions["holdfast.db"].engine
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get("/sitemap.xml").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    few = count_queries()
    for _ in range(5):
        variant_with_stock(db, 1, product__category=CategoryFactory())
    assert count_queries() == few


def test_robots_txt_allows_the_catalogue_and_points_at_the_sitemap(client, db):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[:2] == ["User-agent: *", "Allow: /"]
    disallowed = {line.split(": ", 1)[1] for line in lines if line.startswith("Disallow:")}
    assert disallowed == {
        "/cart",
        "/checkout",
        "/account",
        "/orders",
        "/admin",
        "/webhooks",
        "/metrics",
    }
    assert f"Sitemap: {BASE}/sitemap.xml" in lines
