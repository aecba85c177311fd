"""factory_boy factories for the models. ``bind(session)`` points them at a test's session;
they commit, so the app's own sessions see the rows."""

from __future__ import annotations

import factory
from factory.alchemy import SQLAlchemyModelFactory

from app.models import Category, Product, ProductKind, Role, User, Variant
from app.services.accounts import signin as accounts
from app.services.stock import inventory

_ALL: list[type[SQLAlchemyModelFactory]] = []


def bind(session) -> None:
    for f in _ALL:
        f._meta.sqlalchemy_session = session


class _Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_persistence = "commit"


class CategoryFactory(_Base):
    class Meta:
        model = Category

    slug = factory.Sequence(lambda n: f"category-{n}")
    name = factory.Sequence(lambda n: f"Category {n}")
    description = "Things of one kind."


class ProductFactory(_Base):
    class Meta:
        model = Product

    slug = factory.Sequence(lambda n: f"product-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    description = "A product for tests."
    kind = ProductKind.PHYSICAL
    category = factory.SubFactory(CategoryFactory)


class VariantFactory(_Base):
    class Meta:
        model = Variant

    product = factory.SubFactory(ProductFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = ""
    price_cents = 2500
    currency = "USD"
    on_hand = 0
    allow_backorder = False


def variant_with_stock(session, quantity: int, **kwargs) -> Variant:
    """A variant whose stock arrived through the ledger, as real stock does."""
    variant = VariantFactory(**kwargs)
    if quantity:
        inventory.receive_stock(session, variant.id, quantity, reference="test")
    session.refresh(variant)
    return variant


class UserFactory(_Base):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"shopper{n}@example.com")
    name = factory.Sequence(lambda n: f"Shopper {n}")
    password_hash = factory.LazyFunction(lambda: accounts.hash_password("correct horse battery"))
    role = Role.CUSTOMER


for _f in (CategoryFactory, ProductFactory, VariantFactory, UserFactory):
    _ALL.append(_f)
