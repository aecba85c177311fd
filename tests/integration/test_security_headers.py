"""What every response tells the browser: pages with personal data are never stored by a cache
(``Cache-Control: private, no-store``) while anonymous catalogue pages may be; HSTS where it is
configured; one Content-Security-Policy with no inline script or style, and no template that
would need one; cookies HttpOnly, SameSite=Lax and Secure under production's rules; and
``TRUSTED_PROXIES`` deciding whether X-Forwarded-* headers are believed."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from flask import request, url_for
from flask_login import login_user

from app.config import load_config
from app.db import get_session
from app.models import Role, User
from app.templating import CONTENT_SECURITY_POLICY
from tests.admin_helpers import PASSWORD, signed_in
from tests.checkout_helpers import checkout_path, start_checkout
from tests.conftest import Browser, make_test_app
from tests.factories import UserFactory, variant_with_stock

NO_STORE = "private, no-store"
TEMPLATES = Path(__file__).resolve().parents[2] / "app" / "templates"


@pytest.fixture
def shelf(db) -> dict[str, str]:
    tee = variant_with_stock(db, 5)
    return {"category": tee.product.category.slug, "product": tee.product.slug}


def catalogue(shelf: dict[str, str]) -> list[str]:
    return [
        "/",
        f"/category/{shelf['category']}",
        f"/products/{shelf['product']}",
        "/search?q=Product",
    ]


# Anonymous pages of the personal blueprints (account, cart, checkout, orders, testpay,
# razorpay_pay, admin), whatever they answer (a form, a redirect to log in, a 404).
PERSONAL_PATHS = [
    "/login",
    "/register",
    "/password/forgot",
    "/password/reset/not-a-token",
    "/account",
    "/cart",
    "/checkout",
    "/checkout/co_missing",
    "/orders/link",
    "/orders/HF-000000",
    "/testpay/pay/tp_missing",
    "/pay/razorpay/order_missing",
    "/admin",
    "/admin/orders",
]


# ---------------------------------------------------------------- Cache-Control


def test_anonymous_catalogue_pages_are_not_marked_no_store(client, shelf):
    for path in catalogue(shelf):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "no-store" not in response.headers.get("Cache-Control", ""), path


def test_every_page_that_can_show_personal_data_is_never_stored(client, shelf):
    for path in PERSONAL_PATHS:
        response = client.get(path)
        assert response.headers.get("Cache-Control") == NO_STORE, (path, response.status_code)


def test_a_checkout_and_the_carts_htmx_answers_are_never_stored(app, db):
    tee = variant_with_stock(db, 5)
    browser = Browser(app.test_client())
    added = browser.post("/cart/add", {"variant_id": tee.id, "quantity": 1}, htmx=True)
    assert added.status_code == 200 and added.headers["Cache-Control"] == NO_STORE
    started = start_checkout(browser)
    assert started.headers["Cache-Control"] == NO_STORE
    page = browser.get(checkout_path(started))
    assert page.status_code == 200 and "Ada Lovelace" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == NO_STORE


def test_every_page_of_a_logged_in_shopper_is_never_stored(app, db, shelf):
    shopper = signed_in(app, Role.CUSTOMER, name="Grace Hopper")
    for path in [*catalogue(shelf), "/account", "/cart", "/no-such-page"]:
        response = shopper.get(path)
        assert response.headers.get("Cache-Control") == NO_STORE, path
    home = shopper.get("/").get_data(as_text=True)
    assert "Grace Hopper" in home  # why: the header names the shopper on every page


def test_static_files_stay_cacheable_for_a_logged_in_shopper(app, db):
    shopper = signed_in(app, Role.CUSTOMER)
    css = shopper.client.get("/static/css/shop.css")
    assert css.status_code == 200
    assert "no-store" not in css.headers.get("Cache-Control", "")


def test_a_views_own_cache_control_is_kept(app, db):
    shopper = signed_in(app, Role.CUSTOMER)
    assert shopper.client.get("/health").headers["Cache-Control"] == "no-store"


# ---------------------------------------------------------------- HSTS and CSP


def test_no_hsts_header_where_hsts_seconds_is_0(client):
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_hsts_is_sent_on_every_response_when_configured(database_url, db):
    app = make_test_app(database_url, HSTS_SECONDS=31_536_000)
    client = app.test_client()
    for path in ("/", "/cart", "/static/css/shop.css", "/no-such-page", "/health"):
        response = client.get(path)
        assert response.headers["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains"
        ), path
    app.extensions["holdfast.db"].dispose()


def test_every_kind_of_page_carries_the_policy_without_inline_script_or_style(client, shelf):
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "'unsafe-eval'" not in CONTENT_SECURITY_POLICY
    for directive in ("script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"):
        assert directive in CONTENT_SECURITY_POLICY
    for path in [*catalogue(shelf), *PERSONAL_PATHS, "/no-such-page"]:
        response = client.get(path)
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"


INLINE = [
    (re.compile(r"\sstyle\s*=", re.I), "a style attribute"),
    (re.compile(r"<style", re.I), "a <style> element"),
    (re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an event-handler attribute"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
    (re.compile(r"hx-on", re.I), "an hx-on handler (evaluated code)"),
]


def test_no_page_template_carries_inline_script_or_style():
    """The policy would block them (emails may keep inline styles: no policy applies there)."""
    found = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        if "email" in template.relative_to(TEMPLATES).parts:
            continue
        source = re.sub(r"{#.*?#}", "", template.read_text(), flags=re.S)  # Jinja comments
        found += [
            f"{template.relative_to(TEMPLATES)}: {what}"
            for pattern, what in INLINE
            if pattern.search(source)
        ]
    assert found == []


# ---------------------------------------------------------------- cookies


@pytest.fixture
def production_cookies(database_url, tmp_path):
    """The test app with the cookie settings staging and production get by default."""
    config = load_config(
        str(tmp_path), {"HOLDFAST_ENV": "staging", "SECRET_KEY": secrets.token_hex(32)}
    )
    cookies = {k: v for k, v in config.items() if k.startswith(("SESSION_", "REMEMBER_"))}
    app = make_test_app(database_url, **cookies)

    @app.get("/_test/remember-me/<int:user_id>")
    def remember_me(user_id: int):
        login_user(get_session().get(User, user_id), remember=True)
        return "remembered"

    yield app
    app.extensions["holdfast.db"].dispose()


def set_cookie(response, name: str) -> list[str]:
    """The attributes of the Set-Cookie for ``name``, lower-cased."""
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return [part.strip().lower() for part in header.split(";")[1:]]
    raise AssertionError(f"no {name} cookie in {response.headers.getlist('Set-Cookie')}")


def assert_safe_cookie(attributes: list[str]) -> None:
    assert "secure" in attributes
    assert "httponly" in attributes
    assert "samesite=lax" in attributes


def test_cookies_are_secure_httponly_and_lax_under_production_rules(production_cookies, db):
    tee = variant_with_stock(db, 5)
    person = UserFactory()
    browser = Browser(production_cookies.test_client())
    added = browser.post("/cart/add", {"variant_id": tee.id, "quantity": 1})
    assert_safe_cookie(set_cookie(added, "hf_cart"))
    browser.get("/login")
    logged_in = browser.post("/login", {"email": person.email, "password": PASSWORD})
    assert logged_in.status_code == 303
    assert_safe_cookie(set_cookie(logged_in, "session"))
    remembered = browser.client.get(f"/_test/remember-me/{person.id}")
    assert_safe_cookie(set_cookie(remembered, "remember_token"))


def test_cookies_are_not_secure_in_development_and_test(app, db):
    browser = Browser(app.test_client())
    attributes = set_cookie(browser.get("/login"), "session")
    assert "secure" not in attributes
    assert "httponly" in attributes and "samesite=lax" in attributes


# ---------------------------------------------------------------- proxies


def whoami_app(database_url: str, proxies: int):
    app = make_test_app(database_url, TRUSTED_PROXIES=proxies)

    @app.get("/_test/whoami")
    def whoami():
        return {"address": request.remote_addr, "home": url_for("shop.home", _external=True)}

    return app


FORWARDED = {
    "X-Forwarded-For": "198.51.100.66, 203.0.113.7",  # what the shopper sent, then nginx
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "shop.example",
}


def test_behind_one_trusted_proxy_the_forwarded_address_scheme_and_host_count(database_url):
    app = whoami_app(database_url, proxies=1)
    seen = app.test_client().get("/_test/whoami", headers=FORWARDED).get_json()
    # Only the hop the proxy added is believed: a shopper cannot pick their own address.
    assert seen == {"address": "203.0.113.7", "home": "https://shop.example/"}
    app.extensions["holdfast.db"].dispose()


def test_with_no_trusted_proxy_forwarded_headers_are_ignored(database_url):
    app = whoami_app(database_url, proxies=0)
    seen = app.test_client().get("/_test/whoami", headers=FORWARDED).get_json()
    assert seen == {"address": "127.0.0.1", "home": "http://localhost/"}
    app.extensions["holdfast.db"].dispose()
