"""All models, imported here so Alembic and ``Base.metadata`` see every table."""

from .audit import AuditLog
from .base import Base, utcnow
from .cart import Cart, CartLine
from .catalog import Category, Product, ProductImage, ProductKind, Variant
from .inventory import HoldState, MovementReason, Reservation, StockMovement, SweepRun
from .users import Role, User

__all__ = [
    "AuditLog",
    "Base",
    "Cart",
    "CartLine",
    "Category",
    "HoldState",
    "MovementReason",
    "Product",
    "ProductImage",
    "ProductKind",
    "Reservation",
    "Role",
    "StockMovement",
    "SweepRun",
    "User",
    "Variant",
    "utcnow",
]
