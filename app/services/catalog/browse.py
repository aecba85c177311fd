"""Reading the catalogue: categories, product pages, listings with sorting and pagination,
search. Listings load variants and images eagerly so a page costs a fixed number of queries."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload, undefer

from app.models import Category, Product, ProductImage, Variant
from app.services.errors import NotFound

T = TypeVar("T")

SORTS = {
    "featured": "Featured",
    "price_asc": "Price: low to high",
    "price_desc": "Price: high to low",
    "name": "Name",
    "newest": "Newest",
}
MAX_QUERY_LENGTH = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _listing(stmt):
    return stmt.options(selectinload(Product.variants), selectinload(Product.images)).where(
        Product.is_active.is_(True)
    )


def _min_price():
    return (
        select(func.min(Variant.price_cents))
        .where(Variant.product_id == Product.id)
        .correlate(Product)
        .scalar_subquery()
    )


def _ordered(stmt, sort: str):
    if sort == "price_asc":
        return stmt.order_by(_min_price().asc(), Product.id)
    if sort == "price_desc":
        return stmt.order_by(_min_price().desc(), Product.id)
    if sort == "name":
        return stmt.order_by(Product.name, Product.id)
    if sort == "newest":
        return stmt.order_by(Product.created_at.desc(), Product.id.desc())
    return stmt.order_by(Product.featured.desc(), Product.name, Product.id)


def _paginate(session: Session, stmt, count_stmt, page: int, per_page: int) -> Page[Product]:
    total = session.scalar(count_stmt) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    items = list(session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).unique())
    return Page(items, page, per_page, total)


def list_categories(session: Session) -> list[Category]:
    return list(session.scalars(select(Category).order_by(Category.position, Category.name)))


def featured_products(session: Session, limit: int = 8) -> list[Product]:
    stmt = _listing(select(Product)).where(Product.featured.is_(True))
    return list(session.scalars(stmt.order_by(Product.name).limit(limit)).unique())


def get_category(session: Session, slug: str) -> Category:
    category = session.scalar(select(Category).where(Category.slug == slug))
    if category is None:
        raise NotFound("No such category.")
    return category


def category_products(
    session: Session, category_id: int, *, page: int = 1, per_page: int = 12, sort: str = "featured"
) -> Page[Product]:
    base = _listing(select(Product)).where(Product.category_id == category_id)
    count = select(func.count(Product.id)).where(
        Product.category_id == category_id, Product.is_active.is_(True)
    )
    return _paginate(session, _ordered(base, sort), count, page, per_page)


def get_product(session: Session, slug: str) -> Product:
    product = session.scalar(
        _listing(select(Product)).options(joinedload(Product.category)).where(Product.slug == slug)
    )
    if product is None:
        raise NotFound("No such product.")
    return product


def _search_filter(q: str):
    terms = [t for t in q.lower().split() if t][:8]
    conditions = []
    for term in terms:
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        conditions.append(
            or_(
                func.lower(Product.name).like(pattern, escape="\\"),
                func.lower(Product.description).like(pattern, escape="\\"),
            )
        )
    return conditions


def search_products(
    session: Session, q: str, *, page: int = 1, per_page: int = 12
) -> Page[Product]:
    """Every product whose name or description contains all the words of ``q``."""
    q = q.strip()[:MAX_QUERY_LENGTH]
    conditions = _search_filter(q)
    if not conditions:
        return Page([], 1, per_page, 0)
    base = _listing(select(Product)).where(*conditions)
    count = select(func.count(Product.id)).where(Product.is_active.is_(True), *conditions)
    return _paginate(session, _ordered(base, "featured"), count, page, per_page)


def product_image(session: Session, image_id: int, *, card: bool = False) -> ProductImage:
    """One product image with its bytes (the pages load images without them); ``card`` also
    loads the product-card size (``card_data``, absent for the demo's drawings)."""
    columns = [ProductImage.data, ProductImage.card_data] if card else [ProductImage.data]
    image = session.get(ProductImage, image_id, options=[undefer(c) for c in columns])
    if image is None:
        raise NotFound("No such image.")
    return image
