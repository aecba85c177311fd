"""Product images, stored in the database so any app server can serve them."""

from __future__ import annotations

from flask import Blueprint, make_response, request

from app.db import get_session
from app.services.catalog import browse

bp = Blueprint("media", __name__, url_prefix="/media")


@bp.get("/images/<int:image_id>")
def image(image_id: int):
    # ?size=card: the product card's copy (400 px) when the image has one, else the full size.
    card = request.args.get("size") == "card"
    img = browse.product_image(get_session(), image_id, card=card)  # NotFound: a 404 page
    data = img.card_data if card and img.card_data else img.data
    response = make_response(data)
    response.headers["Content-Type"] = img.content_type
    response.headers["Cache-Control"] = "public, max-age=86400"
    # An SVG opened directly must not run script.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.set_etag(f"img-{img.id}-{len(data)}")
    return response.make_conditional(request)
