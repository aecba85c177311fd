"""Template filters, globals and per-request context (cart badge, categories)."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app, g, request, session

from app import clock
from app.services.catalog import browse as catalog
from app.services.catalog.options import LOW_STOCK
from app.services.checkout import cart as cart_service
from app.services.checkout import countries

from .db import get_session
from .money import format_money
from .web import current_cart_id, set_cart_cookie


def stock_label(avail) -> str:
    """What a shopper reads about one variant's stock."""
    if avail is None:
        return ""
    if avail.available <= 0:
        return "Back-order: ships later" if avail.allow_backorder else "Sold out"
    if avail.available <= LOW_STOCK:
        return f"Only {avail.available} left"
    return "In stock"


def seconds_until(moment: datetime) -> int:
    return max(0, int((moment - clock.utcnow()).total_seconds()))


def register_templating(app: Flask) -> None:
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["country_name"] = countries.name_of
    app.jinja_env.globals["seconds_until"] = seconds_until
    app.jinja_env.globals["stock_label"] = stock_label
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.context_processor
    def shop_context():
        # A page needs the database like its view does (down: the 503 page, which is rendered
        # with ``g.db_down`` set and asks the database nothing).
        def cart_count() -> int:
            if "cart_count" not in g:
                g.cart_count = (
                    0
                    if g.get("db_down")
                    else cart_service.cart_count(get_session(), current_cart_id())
                )
            return g.cart_count

        def nav_categories():
            if "nav_categories" not in g:
                g.nav_categories = (
                    [] if g.get("db_down") else catalog.list_categories(get_session())
                )
            return g.nav_categories

        return {
            "shop_name": current_app.config["SHOP_NAME"],
            "cart_count": cart_count,
            "nav_categories": nav_categories,
        }

    @app.after_request
    def security_headers(response):
        set_cart_cookie(response)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if "Cache-Control" not in response.headers and shows_personal_data():
            response.headers["Cache-Control"] = "private, no-store"
        hsts_seconds = current_app.config.get("HSTS_SECONDS", 0)
        if hsts_seconds:
            response.headers.setdefault(
                "Strict-Transport-Security", f"max-age={hsts_seconds}; includeSubDomains"
            )
        return response


# No inline script or style anywhere (htmx's settling of style attributes is switched off in
# base.html's htmx-config); a view that needs more (the Razorpay page) sets its own.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# Their pages show or take a shopper's name, address, email, orders or payment: never stored
# by a browser's or proxy's cache (the log-in, register and password pages are account's).
PERSONAL_BLUEPRINTS = frozenset(
    {"account", "cart", "checkout", "orders", "testpay", "razorpay_pay", "admin"}
)


def shows_personal_data() -> bool:
    """A response of a personal blueprint, or any page while someone is logged in (their name
    is in the header). Static files and product photos are the same for everyone."""
    if request.blueprint in PERSONAL_BLUEPRINTS:
        return True
    if request.endpoint == "static" or request.blueprint == "media":
        return False
    return "_user_id" in session  # Flask-Login's mark of a logged-in session
