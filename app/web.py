"""Helpers the blueprints share: the current cart, fragment-or-page rendering, safe redirects."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, g, make_response, render_template, request
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2_fragments.flask import render_block

from app.services.checkout import cart as cart_service

from .db import get_session

CART_COOKIE = "hf_cart"


def _cart_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="holdfast.cart")


def guest_cart_token() -> str | None:
    raw = request.cookies.get(CART_COOKIE)
    if not raw:
        return None
    try:
        token = _cart_signer().loads(raw)
    except BadSignature:
        return None
    return token if isinstance(token, str) else None


def current_cart_id(create: bool = False) -> int | None:
    """The id of the shopper's cart: the account's when logged in, else the guest cookie's.
    With ``create``, a cart is made (and the guest cookie set after the request)."""
    if "cart_id" in g and (g.cart_id is not None or not create):
        return g.cart_id
    session = get_session()
    user_id = current_user.id if current_user.is_authenticated else None
    token = None if user_id else guest_cart_token()
    if create:
        cart = cart_service.open_cart(session, token=token, user_id=user_id)
        if user_id is None and cart.token != token:
            g.new_cart_token = cart.token
    else:
        cart = cart_service.find_cart(session, token=token, user_id=user_id)
    g.cart_id = cart.id if cart else None
    return g.cart_id


def set_cart_cookie(response: Response) -> Response:
    token = g.pop("new_cart_token", None)
    if token:
        response.set_cookie(
            CART_COOKIE,
            _cart_signer().dumps(token),
            max_age=60 * 60 * 24 * 30,
            httponly=True,
            samesite="Lax",
            secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
        )
    return response


def wants_fragment() -> bool:
    """HTMX asked for a swap (not a history restore, which needs the whole page)."""
    return bool(request.headers.get("HX-Request")) and not request.headers.get(
        "HX-History-Restore-Request"
    )


def render_page(template: str, block: str | None = None, status: int = 200, **context: Any):
    """Render the whole page, or only ``block`` of it for an HTMX swap, with ``Vary``."""
    if block and wants_fragment():
        body = render_block(template, block, fragment=True, **context)
    else:
        body = render_template(template, fragment=False, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def same_origin_without_token() -> bool:
    """A POST that carries no CSRF token but shows, by the headers every current browser sends
    and a page cannot forge, that it comes from one of this site's own pages: Fetch metadata
    (``Sec-Fetch-Site: same-origin``), else an ``Origin`` naming this site. Public pages
    (app/page_cache.py) carry no token, so their add-to-cart form is checked this way."""
    if request.form.get("csrf_token") or request.headers.get("X-CSRFToken"):
        return False  # a token was sent: it is checked as usual
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("Origin")
    return bool(origin) and origin == request.host_url.rstrip("/")


def safe_next(target: str | None, default: str = "/") -> str:
    """A relative path on this site, or ``default``: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return default
    return target


def referrer_path() -> str | None:
    """The path of the Referer when it is this site, for 'back' links."""
    ref = request.referrer
    if not ref:
        return None
    parts = urlsplit(ref)
    if parts.netloc and parts.netloc != request.host:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def shopper_key() -> str:
    """Who the shopper is, for 'only the shopper who started it' checks: the account when
    logged in, else a hash of the guest cart token (never the token itself)."""
    if current_user.is_authenticated:
        return f"u:{current_user.id}"
    token = guest_cart_token() or g.get("new_cart_token") or ""
    return "c:" + hashlib.sha256(token.encode()).hexdigest()[:40]
