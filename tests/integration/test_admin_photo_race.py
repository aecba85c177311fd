"""One photo form posted twice at the same instant stores one photo (the stored name comes
from the form's key and is unique), on SQLite and on Postgres."""

from __future__ import annotations

import threading

from app.models import ProductImage
from app.services.admin import images
from tests.factories import ProductFactory
from tests.integration.test_admin_catalogue import png_bytes


def test_two_posts_of_one_photo_form_at_once_store_one_photo(app, db):
    """The same upload form posted twice at the same instant (two servers, two threads)."""
    product_id = ProductFactory().id
    raw = png_bytes()
    stored: list[int] = []
    barrier = threading.Barrier(2)

    def post() -> None:
        session = app.extensions["holdfast.db"].session_factory()
        try:
            barrier.wait()
            image = images.add_image(session, product_id, raw, "twice", actor="o@x", key="k" * 32)
            stored.append(image.id)
        finally:
            session.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stored) == 2 and stored[0] == stored[1]  # both posts answered with one photo
    assert db.query(ProductImage).filter_by(product_id=product_id).count() == 1
