"""The small product picture beside a cart, checkout, review or order line: the photo of the
variant's colour when the owner tied one to it, else the product's first image (by position,
then id), served at card size by ``/media/images/<id>?size=card``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Product, ProductImage, Variant

# The size the thumbnail is laid out at (CSS pixels); the card copy is 400 px, so it stays sharp.
THUMB_SIZE = 64


@dataclass(frozen=True)
class Thumbnail:
    image_id: int
    alt: str
    width: int = THUMB_SIZE
    height: int = THUMB_SIZE


def for_variants(session: Session, variant_ids: list[int]) -> dict[int, Thumbnail]:
    """Each variant's picture (its colour's photo, else its product's first), in one query
    (image bytes are not loaded). Variants whose product has no image are left out."""
    if not variant_ids:
        return {}
    rows = session.execute(
        select(
            Variant.id,
            Variant.colour,
            ProductImage.id,
            ProductImage.alt,
            ProductImage.colour,
            Product.name,
        )
        .join(Product, Product.id == Variant.product_id)
        .join(ProductImage, ProductImage.product_id == Product.id)
        .where(Variant.id.in_(set(variant_ids)))
        .order_by(Variant.id, ProductImage.position, ProductImage.id)
    ).all()
    first: dict[int, Thumbnail] = {}
    coloured: dict[int, Thumbnail] = {}
    for variant_id, colour, image_id, alt, image_colour, product_name in rows:
        thumb = Thumbnail(image_id, alt or product_name)
        first.setdefault(variant_id, thumb)
        if colour and image_colour and colour.casefold() == image_colour.casefold():
            coloured.setdefault(variant_id, thumb)
    return first | coloured
