"""The owner's admin (see ``base``): one module per area, each registering its views on ``bp``."""

from . import (  # noqa: F401  (imported so their views register on bp)
    audit,
    bulk,
    catalogue,
    catalogue_stock,
    checkouts,
    dashboard,
    discounts,
    emails,
    health,
    holds,
    lists,
    orders,
    returns,
    security,
    settings,
    shipping,
    staff,
    taxes,
    webhooks,
)
from .base import bp

__all__ = ["bp"]
