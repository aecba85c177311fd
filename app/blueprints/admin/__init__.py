"""The owner's admin (see ``base``): one module per area, each registering its views on ``bp``."""

from . import dashboard, orders  # noqa: F401  (their views register on bp)
from .base import bp

__all__ = ["bp"]
