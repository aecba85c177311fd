"""The storefront: home, categories, product pages, search."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, request

from app.db import get_session
from app.page_cache import cached_public_page
from app.services.catalog import browse as catalog
from app.services.errors import NotFound
from app.services.stock.inventory import availability
from app.web import render_page

bp = Blueprint("shop", __name__)


def _page_arg() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 else 1


def _availability_for(products) -> dict:
    ids = [v.id for p in products for v in p.variants]
    return availability(get_session(), ids)


@bp.get("/")
@cached_public_page
def home():
    session = get_session()
    products = catalog.featured_products(session)
    return render_page(
        "shop/home.html",
        categories=catalog.list_categories(session),
        products=products,
        stock=_availability_for(products),
    )


@bp.get("/category/<slug>")
@cached_public_page
def category(slug: str):
    session = get_session()
    try:
        cat = catalog.get_category(session, slug)
    except NotFound:
        abort(404)
    sort = request.args.get("sort", "featured")
    if sort not in catalog.SORTS:
        sort = "featured"
    page = catalog.category_products(
        session,
        cat.id,
        page=_page_arg(),
        per_page=current_app.config["CATALOG_PAGE_SIZE"],
        sort=sort,
    )
    return render_page(
        "shop/category.html",
        block="listing",
        category=cat,
        page=page,
        sort=sort,
        sorts=catalog.SORTS,
        stock=_availability_for(page.items),
    )


@bp.get("/products/<slug>")
@cached_public_page
def product(slug: str):
    try:
        prod = catalog.get_product(get_session(), slug)
    except NotFound:
        abort(404)
    selected = _selected_variant(prod)
    return render_page(
        "shop/product.html",
        product=prod,
        selected=selected,
        stock=_availability_for([prod]),
    )


@bp.get("/products/<slug>/availability")
@cached_public_page
def product_availability(slug: str):
    """The availability panel alone, refreshed by HTMX when the option changes."""
    try:
        prod = catalog.get_product(get_session(), slug)
    except NotFound:
        abort(404)
    return render_page(
        "shop/product.html",
        block="availability",
        product=prod,
        selected=_selected_variant(prod),
        stock=_availability_for([prod]),
    )


def _selected_variant(prod):
    raw = request.args.get("variant") or request.args.get("variant_id") or ""
    by_id = {str(v.id): v for v in prod.variants}
    if raw in by_id:
        return by_id[raw]
    return prod.variants[0] if prod.variants else None


@bp.get("/search")
@cached_public_page
def search():
    q = request.args.get("q", "")[: catalog.MAX_QUERY_LENGTH]
    page = catalog.search_products(
        get_session(), q, page=_page_arg(), per_page=current_app.config["CATALOG_PAGE_SIZE"]
    )
    return render_page(
        "shop/search.html", block="results", q=q, page=page, stock=_availability_for(page.items)
    )
