"""Product photos uploaded in the admin.

An upload is trusted for nothing: its type is decided by its CONTENT (Pillow must open it as a
JPEG, PNG, WebP or GIF; the file name and the browser's type are ignored), it is refused over
``MAX_IMAGE_BYTES``, and it is re-encoded by Pillow into two sizes: the full size (at most
``FULL_SIZE`` px on its longer side, ``ProductImage.data``) and the product card's (at most
``CARD_SIZE`` px, ``card_data``). Re-encoding drops every piece of metadata (EXIF, GPS,
comments); a GIF keeps its first frame, as a PNG. Each is stored under a random generated name.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import begin_write
from app.models import Product, ProductImage, Variant
from app.services import audit
from app.services.errors import DomainError, NotFound

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded
FULL_SIZE = 1200
CARD_SIZE = 400
# what Pillow found → what we store
OUTPUT = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "GIF": "PNG"}
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
NOT_AN_IMAGE = "That file is not a JPEG, PNG, WebP or GIF image (its content was checked)."


@dataclass(frozen=True)
class Processed:
    content_type: str
    extension: str
    data: bytes
    card_data: bytes
    width: int
    height: int


def _open(raw: bytes) -> tuple[Image.Image, str]:
    if not raw:
        raise DomainError("Choose an image file to upload.")
    if len(raw) > MAX_IMAGE_BYTES:
        size = len(raw) / (1024 * 1024)
        raise DomainError(f"That image is {size:.1f} MB; images may be at most 5 MB.")
    try:
        image = Image.open(io.BytesIO(raw))
        found = image.format
        if found not in OUTPUT:
            raise DomainError(NOT_AN_IMAGE)
        if image.width * image.height > MAX_PIXELS:
            raise DomainError("That image has too many pixels; use one under 40 megapixels.")
        image.load()
        return ImageOps.exif_transpose(image), found
    except DomainError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise DomainError(NOT_AN_IMAGE) from None


def _encode(image: Image.Image, fmt: str, longest: int) -> tuple[bytes, int, int]:
    copy = image.copy()
    copy.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    copy.info = {}  # no metadata is carried over
    if fmt == "JPEG" and copy.mode not in ("RGB", "L"):
        copy = copy.convert("RGB")
    if fmt == "PNG" and copy.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        copy = copy.convert("RGBA")
    out = io.BytesIO()
    options = {"quality": 85, "optimize": True} if fmt in ("JPEG", "WEBP") else {"optimize": True}
    copy.save(out, format=fmt, **options)
    return out.getvalue(), copy.width, copy.height


def process(raw: bytes) -> Processed:
    """Check an upload by its content and make its two sizes, or a :class:`DomainError`."""
    image, found = _open(raw)
    fmt = OUTPUT[found]
    if image.mode == "P" or image.mode == "PA":
        image = image.convert("RGBA")
    data, width, height = _encode(image, fmt, FULL_SIZE)
    card_data, _w, _h = _encode(image, fmt, CARD_SIZE)
    return Processed(CONTENT_TYPES[fmt], EXTENSIONS[fmt], data, card_data, width, height)


def product_colours(session: Session, product_id: int) -> list[str]:
    """The colours the product's variants come in, in their order (what a photo may show)."""
    rows = session.scalars(
        select(Variant.colour)
        .where(Variant.product_id == product_id, Variant.colour.is_not(None))
        .order_by(Variant.position, Variant.id)
    )
    colours: dict[str, str] = {}
    for colour in rows:
        if colour.strip():
            colours.setdefault(colour.strip().casefold(), colour)
    return list(colours.values())


def _colour(session: Session, product_id: int, colour: str | None) -> str | None:
    """The variant colour a photo shows (as the variants spell it), None for the product as a
    whole; a colour none of its variants has is refused."""
    wanted = (colour or "").strip().casefold()
    if not wanted:
        return None
    for known in product_colours(session, product_id):
        if known.strip().casefold() == wanted:
            return known
    session.rollback()
    raise DomainError(f"No variant of this product is {colour.strip()[:40]}; choose its colour.")


def add_image(
    session: Session,
    product_id: int,
    raw: bytes,
    alt: str,
    *,
    actor: str,
    key: str,
    colour: str | None = None,
) -> ProductImage:
    """Store an upload (checked and resized first, outside the transaction) as the product's
    last image, showing ``colour`` (a variant's) or the whole product; a second post of the
    same form stores nothing more."""
    processed = process(raw)
    alt = " ".join((alt or "").split())[:200]
    # The stored name comes from the form's key: a second post of the form (even at the same
    # instant, on another server) finds the first one's image, or hits the unique name.
    stored_name = f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.{processed.extension}"
    begin_write(session)
    done = _image_named(session, stored_name)
    if done is not None:
        session.rollback()
        return done
    if session.get(Product, product_id) is None:
        session.rollback()
        raise NotFound("No such product.")
    image = _new_image(session, product_id, processed, stored_name, alt)
    image.colour = _colour(session, product_id, colour)
    session.add(image)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return _image_named(session, stored_name)
    audit.record(
        session,
        "image.added",
        actor=actor,
        subject_type="product",
        subject_id=product_id,
        key=key,
        image_id=image.id,
        stored_name=image.stored_name,
        width=image.width,
        height=image.height,
        colour=image.colour,
        bytes=len(processed.data),
    )
    session.commit()
    return image


def _new_image(
    session: Session, product_id: int, processed: Processed, stored_name: str, alt: str
) -> ProductImage:
    """The product's next image (placed last), not added to the session yet."""
    last = session.scalar(
        select(func.max(ProductImage.position)).where(ProductImage.product_id == product_id)
    )
    return ProductImage(
        product_id=product_id,
        content_type=processed.content_type,
        data=processed.data,
        card_data=processed.card_data,
        width=processed.width,
        height=processed.height,
        stored_name=stored_name,
        alt=alt,
        position=(last if last is not None else -1) + 1,
    )


def _image_named(session: Session, stored_name: str) -> ProductImage | None:
    return session.scalar(select(ProductImage).where(ProductImage.stored_name == stored_name))


def _image_of(session: Session, product_id: int, image_id: int) -> ProductImage:
    image = session.get(ProductImage, image_id)
    if image is None or image.product_id != product_id:
        session.rollback()
        raise NotFound("No such image.")
    return image


def update_image(
    session: Session,
    product_id: int,
    image_id: int,
    alt: str,
    position: int,
    *,
    actor: str,
    colour: str | None = None,
) -> bool:
    """Set an image's alt text, place (lower first) and, unless ``colour`` is None, the colour
    it shows ("" for the whole product); returns whether anything changed."""
    alt = " ".join((alt or "").split())
    if len(alt) > 200 or not 0 <= position <= 1000:
        raise DomainError("Alt text has at most 200 characters; the order is 0 to 1000.")
    begin_write(session)
    image = _image_of(session, product_id, image_id)
    shows = image.colour if colour is None else _colour(session, product_id, colour)
    before = {"alt": image.alt, "position": image.position, "colour": image.colour}
    after = {"alt": alt, "position": position, "colour": shows}
    if before == after:
        session.rollback()
        return False
    image.alt, image.position, image.colour = alt, position, shows
    audit.record(
        session,
        "image.updated",
        actor=actor,
        subject_type="product",
        subject_id=product_id,
        image_id=image_id,
        before=before,
        after=after,
    )
    session.commit()
    return True


def delete_image(session: Session, product_id: int, image_id: int, *, actor: str) -> bool:
    """Delete an image; False when it is already gone (a second click)."""
    begin_write(session)
    image = session.get(ProductImage, image_id)
    if image is None:
        session.rollback()
        return False
    image = _image_of(session, product_id, image_id)
    audit.record(
        session,
        "image.deleted",
        actor=actor,
        subject_type="product",
        subject_id=product_id,
        image_id=image_id,
        stored_name=image.stored_name,
        alt=image.alt,
    )
    session.delete(image)
    session.commit()
    return True
