"""What a page costs in SQL statements: the same on a catalogue of 10 products as on one of 60,
so no page runs a query per product (an N+1) — and never more than its stated bound."""

from __future__ import annotations

from sqlalchemy import event, select, update

from app.demo.catalogue import add_generated
from app.models import Product, Variant
from tests.conftest import Browser

# Statements per page as counted today on SQLite, which sends its BEGIN through the cursor
# (Postgres: one fewer each). Home: featured products, their variants, their images, the
# categories, the variants' availability, the cart badge (cart, its size), the nav's categories.
BOUNDS = {"home": 9, "category": 10, "product": 8, "search": 9, "cart": 6}


def _pages(session) -> dict[str, str]:
    product = session.scalar(select(Product).where(Product.slug == "gen-00004"))
    return {
        "home": "/",
        "category": "/category/home-kitchen",
        "product": f"/products/{product.slug}",
        "search": "/search?q=generated",
        "cart": "/cart",
    }


def _count(app, browser: Browser, url: str) -> int:
    engine = app.extensions["holdfast.db"].engine
    seen: list[str] = []

    def listener(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    assert browser.get(url).status_code == 200  # warm: what a first request alone loads
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert browser.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(seen)


def _catalogue(app, products: int) -> dict[str, str]:
    session = app.extensions["holdfast.db"].session_factory()
    try:
        add_generated(session, products)
        # Every product featured, so the home page's list grows with the catalogue too.
        session.execute(update(Product).values(featured=True))
        session.commit()
        return _pages(session)
    finally:
        session.close()


def _fill_cart(app, browser: Browser) -> None:
    session = app.extensions["holdfast.db"].session_factory()
    try:
        ids = session.scalars(select(Variant.id).order_by(Variant.id).limit(3)).all()
    finally:
        session.close()
    for variant_id in ids:
        response = browser.post("/cart/add", {"variant_id": variant_id, "quantity": 1})
        assert response.status_code == 303


def test_no_page_costs_more_queries_on_a_bigger_catalogue(app, browser):
    pages = _catalogue(app, 10)
    _fill_cart(app, browser)
    few = {name: _count(app, browser, url) for name, url in pages.items()}

    _catalogue(app, 60)
    many = {name: _count(app, browser, url) for name, url in pages.items()}

    assert many == few
    for name, count in many.items():
        assert count <= BOUNDS[name], (name, count)
