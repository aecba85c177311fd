"""The storefront: home, categories, product pages, search."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, make_response, render_template, request, url_for

from app.db import get_session
from app.page_cache import cached_public_page
from app.services.catalog import browse as catalog
from app.services.catalog import options
from app.services.errors import NotFound
from app.services.stock.inventory import availability
from app.web import render_page, wants_fragment

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
    return _product_page(slug)


def _product_page(slug: str):
    """The page, for the variant the query names (``?size=M&colour=Navy`` from the options
    form, ``?variant=ID`` from links); an HTMX request gets the parts that change."""
    session = get_session()
    try:
        prod = catalog.get_product(session, slug)
    except NotFound:
        abort(404)
    stock = _availability_for([prod])
    # HTMX names the radio that changed: that option wins when the combination is not made.
    choice = options.choose(
        prod, stock, request.args, changed=request.headers.get("HX-Trigger-Name")
    )
    context = dict(
        product=prod,
        choice=choice,
        selected=choice.variant,
        stock=stock,
        variant_url=url_for("shop.product", slug=prod.slug, **choice.query),
    )
    if wants_fragment():
        response = make_response(render_template("shop/_product_choice.html", **context))
        response.headers["HX-Push-Url"] = context["variant_url"]
    else:
        response = make_response(render_template("shop/product.html", **context))
    response.vary.add("HX-Request")
    response.vary.add("HX-Trigger-Name")
    return response


@bp.get("/products/<slug>/availability")
@cached_public_page
def product_availability(slug: str):
    """The same answer as the page (older pages asked here with ``?variant_id=``)."""
    return _product_page(slug)


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
