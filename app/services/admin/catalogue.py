"""The owner's catalogue (``/admin/products``): products listed, searched and paged; products,
their variants and categories created, edited and archived.

Every change is one transaction (``begin_write`` first), leaves an audit row with what changed
(before and after), and refuses bad input with a :class:`DomainError` that names the field,
changing nothing. Slugs are made from names and kept unique. A create carries a ``key`` drawn
when its form was shown: the same key twice (a double click) creates once, and the second call
returns what the first made. Variant rows are locked (``services.locks``) before they change.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass

from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app.db import begin_write
from app.models import AuditLog, Category, Product, ProductKind, Variant
from app.services import audit
from app.services.admin.paging import paged
from app.services.catalog.browse import Page
from app.services.errors import DomainError, NotFound

PER_PAGE = 25


# ---------------------------------------------------------------- slugs and keys


def slugify(text: str, max_length: int = 150) -> str:
    """``"Café Mug (Large)"`` → ``"cafe-mug-large"``; never empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].rstrip("-") or "item"


def unique_slug(session: Session, model, name: str, exclude_id: int | None = None) -> str:
    """A slug for ``name`` that no other row of ``model`` has: ``mug``, else ``mug-2``, …"""
    base = slugify(name)
    taken_stmt = select(model.slug).where(or_(model.slug == base, model.slug.like(f"{base}-%")))
    if exclude_id is not None:
        taken_stmt = taken_stmt.where(model.id != exclude_id)
    taken = set(session.scalars(taken_stmt))
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def made_with(session: Session, action: str, key: str | None) -> int | None:
    """The id of the row an earlier request with this form ``key`` created, if any."""
    if not key:
        return None
    return session.scalar(
        select(AuditLog.subject_id).where(
            AuditLog.action == action, AuditLog.details["key"].as_string() == key
        )
    )


def changes_between(before: dict, after: dict) -> dict[str, dict]:
    return {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class ProductFilter:
    q: str = ""
    archived: bool = False  # show archived products too


def list_products(session: Session, filters: ProductFilter, page: int = 1) -> Page[Product]:
    where = [] if filters.archived else [Product.is_active.is_(True)]
    q = filters.q.strip().lower()
    if q:
        pattern = f"%{q}%"
        sku_match = exists().where(
            Variant.product_id == Product.id, func.lower(Variant.sku).like(pattern)
        )
        where.append(
            or_(func.lower(Product.name).like(pattern), Product.slug.like(pattern), sku_match)
        )
    stmt = (
        select(Product)
        .where(*where)
        .options(selectinload(Product.variants), selectinload(Product.category))
        .order_by(Product.name, Product.id)
    )
    return paged(session, stmt, page, PER_PAGE)


def get_product(session: Session, product_id: int) -> Product:
    product = session.get(
        Product,
        product_id,
        options=[selectinload(Product.variants), selectinload(Product.images)],
    )
    if product is None:
        raise NotFound("No such product.")
    return product


def get_variant(session: Session, variant_id: int) -> Variant:
    variant = session.get(Variant, variant_id)
    if variant is None:
        raise NotFound("No such variant.")
    return variant


def list_categories(session: Session) -> list[Category]:
    return list(session.scalars(select(Category).order_by(Category.position, Category.name)))


# ---------------------------------------------------------------- categories


def clean_name(name: str, what: str, max_length: int) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise DomainError(f"Give the {what} a name.")
    if len(name) > max_length:
        raise DomainError(f"A {what} name has at most {max_length} characters.")
    return name


def create_category(session: Session, name: str, *, actor: str) -> tuple[Category, bool]:
    """A new category, or the one already named so (a double click); (category, created)."""
    name = clean_name(name, "category", 120)
    begin_write(session)
    same = session.scalar(select(Category).where(func.lower(Category.name) == name.lower()))
    if same is not None:
        session.rollback()
        return same, False
    category = Category(name=name, slug=unique_slug(session, Category, name))
    session.add(category)
    session.flush()
    audit.record(
        session,
        "category.created",
        actor=actor,
        subject_type="category",
        subject_id=category.id,
        name=name,
        slug=category.slug,
    )
    session.commit()
    return category, True


def rename_category(session: Session, category_id: int, name: str, *, actor: str) -> bool:
    """Rename (and re-slug) a category; returns whether anything changed."""
    name = clean_name(name, "category", 120)
    begin_write(session)
    category = session.get(Category, category_id)
    if category is None:
        session.rollback()
        raise NotFound("No such category.")
    clash = session.scalar(
        select(Category.id).where(
            func.lower(Category.name) == name.lower(), Category.id != category_id
        )
    )
    if clash is not None:
        session.rollback()
        raise DomainError(f"There is already a category named {name!r}.")
    if category.name == name:
        session.rollback()
        return False
    before = {"name": category.name, "slug": category.slug}
    category.name, category.slug = name, unique_slug(session, Category, name, category_id)
    audit.record(
        session,
        "category.renamed",
        actor=actor,
        subject_type="category",
        subject_id=category_id,
        **changes_between(before, {"name": category.name, "slug": category.slug}),
    )
    session.commit()
    return True


# ---------------------------------------------------------------- products


@dataclass(frozen=True)
class ProductInput:
    name: str
    description: str
    category_id: int
    kind: ProductKind
    featured: bool = False


def _checked_product(session: Session, data: ProductInput) -> ProductInput:
    name = clean_name(data.name, "product", 160)
    if session.get(Category, data.category_id) is None:
        raise DomainError("Choose a category (create one first if there is none).")
    return ProductInput(
        name, (data.description or "").strip(), data.category_id, data.kind, data.featured
    )


def create_product(session: Session, data: ProductInput, *, actor: str, key: str) -> Product:
    """A new product (active), or the one an earlier post of the same form made."""
    begin_write(session)
    done = made_with(session, "product.created", key)
    if done is not None:
        session.rollback()
        return get_product(session, done)
    try:
        data = _checked_product(session, data)
    except DomainError:
        session.rollback()
        raise
    product = Product(
        name=data.name,
        slug=unique_slug(session, Product, data.name),
        description=data.description,
        category_id=data.category_id,
        kind=data.kind,
        featured=data.featured,
    )
    session.add(product)
    try:
        session.flush()
    except IntegrityError:  # a concurrent post took the slug: it was the same form, or retry
        session.rollback()
        return _after_race(session, data, actor=actor, key=key)
    audit.record(
        session,
        "product.created",
        actor=actor,
        subject_type="product",
        subject_id=product.id,
        key=key,
        **{k: str(v) for k, v in asdict(data).items()},
    )
    session.commit()
    return product


def _after_race(session: Session, data: ProductInput, *, actor: str, key: str) -> Product:
    done = made_with(session, "product.created", key)
    if done is not None:
        return get_product(session, done)
    return create_product(session, data, actor=actor, key=key)


def _product_values(product: Product) -> dict:
    return {
        "name": product.name,
        "slug": product.slug,
        "description": product.description,
        "category_id": product.category_id,
        "kind": product.kind.value,
        "featured": product.featured,
    }


def update_product(session: Session, product_id: int, data: ProductInput, *, actor: str) -> bool:
    """Save the product's fields; returns whether anything changed. Its kind changes only while
    it has no variants (a digital variant's stock is its keys)."""
    begin_write(session)
    try:
        product = get_product(session, product_id)
        data = _checked_product(session, data)
        if data.kind is not product.kind and product.variants:
            raise DomainError(
                "A product with variants cannot change between physical and digital; "
                "create a new product instead."
            )
    except DomainError:
        session.rollback()
        raise
    before = _product_values(product)
    if data.name != product.name:
        product.slug = unique_slug(session, Product, data.name, product.id)
    product.name, product.description = data.name, data.description
    product.category_id, product.kind, product.featured = data.category_id, data.kind, data.featured
    changes = changes_between(before, _product_values(product))
    if not changes:
        session.rollback()
        return False
    audit.record(
        session,
        "product.updated",
        actor=actor,
        subject_type="product",
        subject_id=product.id,
        **changes,
    )
    session.commit()
    return True


def set_active(session: Session, product_id: int, active: bool, *, actor: str) -> bool:
    """Archive (``active=False``: off the storefront) or bring back a product; returns whether
    it changed (a second click changes nothing)."""
    begin_write(session)
    product = session.get(Product, product_id)
    if product is None:
        session.rollback()
        raise NotFound("No such product.")
    if product.is_active == active:
        session.rollback()
        return False
    product.is_active = active
    audit.record(
        session,
        "product.unarchived" if active else "product.archived",
        actor=actor,
        subject_type="product",
        subject_id=product_id,
        is_active={"before": not active, "after": active},
    )
    session.commit()
    return True
