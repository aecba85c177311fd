"""For search engines and link previews: /sitemap.xml, /robots.txt, and the template helpers
the pages' ``<head>`` uses (absolute URLs, robots, JSON-LD). The logic is in
``services/catalog/seo.py``; this module only knows URLs and the request."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request, stream_with_context, url_for
from markupsafe import Markup

from app.db import get_session
from app.services.catalog import options, seo

bp = Blueprint("seo", __name__)

CACHE_AN_HOUR = "public, max-age=3600"


def base_url() -> str:
    """``SHOP_BASE_URL`` when set, else the address this request came to."""
    return str(current_app.config.get("SHOP_BASE_URL") or request.host_url).rstrip("/")


@bp.app_template_global()
def absolute_url(endpoint: str, **values) -> str:
    return base_url() + url_for(endpoint, **values)


@bp.app_template_global()
def default_robots() -> str:
    """``noindex`` for the personal and transactional pages (carts, accounts, the admin)."""
    return "noindex, nofollow" if request.blueprint in seo.NOINDEX_BLUEPRINTS else ""


@bp.app_template_filter("meta_text")
def meta_text(text: str | None, limit: int = seo.META_DESCRIPTION_LENGTH) -> str:
    return seo.meta_text(text, limit)


@bp.app_template_global()
def product_image_url(product) -> str | None:
    """The absolute URL of the product's first image, if it has one."""
    if not product.images:
        return None
    return absolute_url("media.image", image_id=product.images[0].id)


@bp.app_template_global()
def product_jsonld(product, stock) -> dict:
    url = absolute_url("shop.product", slug=product.slug)
    names = options.option_names(product.variants)

    def offer_url(variant) -> str:
        query = options.variant_query(variant, names)
        return absolute_url("shop.product", slug=product.slug, **query)

    return seo.product_data(
        product, stock, url=url, image_url=product_image_url(product), offer_url=offer_url
    )


@bp.app_template_global()
def breadcrumbs_jsonld(product) -> dict:
    trail = [
        ("Home", absolute_url("shop.home")),
        (product.category.name, absolute_url("shop.category", slug=product.category.slug)),
        (product.name, absolute_url("shop.product", slug=product.slug)),
    ]
    return seo.breadcrumb_data(trail)


@bp.app_template_global()
def home_jsonld() -> list[dict]:
    return seo.home_data(
        current_app.config["SHOP_NAME"], absolute_url("shop.home"), absolute_url("shop.search")
    )


@bp.app_template_global()
def jsonld(data: dict | list) -> Markup:
    """A JSON-LD data block: never executed, so the CSP's ``script-src 'self'`` allows it (the
    block is written here, whole, so its escaping cannot be forgotten in a template)."""
    text = seo.jsonld_text(data)  # holds no <, >, & or ': safe as markup
    return Markup(f'<script type="application/ld+json">{text}</script>')  # noqa: S704


@bp.get("/sitemap.xml")
def sitemap():
    entries = seo.sitemap_entries(get_session())  # before streaming: a failure is a 503
    body = seo.sitemap_xml(
        entries,
        home_url=absolute_url("shop.home"),
        category_url=lambda slug: absolute_url("shop.category", slug=slug),
        product_url=lambda slug: absolute_url("shop.product", slug=slug),
    )
    response = Response(stream_with_context(body), mimetype="application/xml")
    response.headers["Cache-Control"] = CACHE_AN_HOUR
    return response


@bp.get("/robots.txt")
def robots():
    body = seo.robots_txt(absolute_url("seo.sitemap"))
    response = Response(body, mimetype="text/plain")
    response.headers["Cache-Control"] = CACHE_AN_HOUR
    return response
