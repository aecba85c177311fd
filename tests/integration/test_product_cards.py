"""Product cards and pictures as a shopper's browser gets them: "from" only when the options'
prices differ, pictures that keep their place while loading (width/height), lazy below the
first row, a card-size/full-size ``srcset`` for uploaded photos only, and demo drawings
without the product's name written into them."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from PIL import Image

from app.demo.images import MOTIFS, product_svg
from app.models import ProductImage
from app.services.admin import images as admin_images
from tests.factories import CategoryFactory, ProductFactory, variant_with_stock


class _Imgs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "img":
            self.imgs.append(dict(attrs))


def _imgs(html: str) -> list[dict]:
    parser = _Imgs()
    parser.feed(html)
    return parser.imgs


def _drawing(db, product, alt: str = "a drawing") -> ProductImage:
    svg = product_svg(product.name, "mug", "Navy", seed=product.slug)
    image = ProductImage(product_id=product.id, data=svg, alt=alt, content_type="image/svg+xml")
    db.add(image)
    db.commit()
    return image


def _photo(db, product, width: int, height: int, key: str) -> ProductImage:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(out, format="PNG")
    return admin_images.add_image(db, product.id, out.getvalue(), "photo", actor="o@x", key=key)


def test_from_only_when_the_options_prices_differ(client, db):
    cat = CategoryFactory(slug="mugs")
    same = ProductFactory(name="Same Mug", category=cat)
    for _ in range(2):
        variant_with_stock(db, 3, product=same, price_cents=2800)
    mixed = ProductFactory(name="Mixed Mug", category=cat)
    variant_with_stock(db, 3, product=mixed, price_cents=2800)
    variant_with_stock(db, 3, product=mixed, price_cents=3400)

    html = client.get("/category/mugs?sort=name").get_data(as_text=True)
    prices = [p.split("</span>")[0] for p in html.split('class="card-price">')[1:]]
    assert prices == ["from $28.00", "$28.00"]  # Mixed Mug, then Same Mug


def test_cards_have_sizes_and_only_the_first_row_loads_at_once(client, db):
    cat = CategoryFactory(slug="bowls")
    for i in range(6):
        product = ProductFactory(name=f"Bowl {i}", category=cat)
        variant_with_stock(db, 3, product=product)
        _drawing(db, product)

    imgs = _imgs(client.get("/category/bowls?sort=name").get_data(as_text=True))
    assert len(imgs) == 6
    assert [img["loading"] for img in imgs] == ["eager"] * 4 + ["lazy"] * 2
    for img in imgs:
        assert (img["width"], img["height"]) == ("800", "800")
        assert "srcset" not in img  # a drawing has no card copy: ?size=card answers the SVG


def test_an_uploaded_photo_offers_its_card_and_full_sizes(client, db):
    cat = CategoryFactory(slug="prints")
    product = ProductFactory(name="Wide Print", slug="wide-print", category=cat)
    variant_with_stock(db, 3, product=product)
    image = _photo(db, product, 1600, 800, key="k" * 32)
    card_url, full_url = f"/media/images/{image.id}?size=card", f"/media/images/{image.id}"

    [card] = _imgs(client.get("/category/prints").get_data(as_text=True))
    assert (card["src"], card["width"], card["height"]) == (card_url, "400", "200")
    assert card["srcset"] == f"{card_url} 400w, {full_url} 1200w"
    assert card["sizes"]

    [main] = _imgs(client.get("/products/wide-print").get_data(as_text=True))
    assert (main["src"], main["width"], main["height"]) == (full_url, "1200", "600")
    assert main["loading"] == "eager"
    assert main["srcset"] == card["srcset"]
    # both addresses in the srcset answer a picture of the size they claim
    for url, width in ((card_url, 400), (full_url, 1200)):
        assert Image.open(io.BytesIO(client.get(url).data)).width == width


def test_the_product_page_shows_every_picture_as_a_link(client, db):
    product = ProductFactory(name="Tote", slug="tote")
    variant_with_stock(db, 3, product=product)
    first = _drawing(db, product, alt="front")
    second = _photo(db, product, 900, 900, key="g" * 32)

    html = client.get("/products/tote").get_data(as_text=True)
    gallery = html.split('class="product-gallery"')[1].split("</ul>")[0]
    for image in (first, second):
        assert f'<a href="/media/images/{image.id}">' in gallery
    thumbs = _imgs(gallery)
    assert [t["loading"] for t in thumbs] == ["lazy", "lazy"]
    assert (thumbs[1]["width"], thumbs[1]["height"]) == ("400", "400")


def test_demo_drawings_carry_no_text_and_still_differ():
    drawings = set()
    for motif in MOTIFS:
        svg = product_svg(f"The {motif} product", motif, None, seed=motif)
        root = ET.fromstring(svg)
        assert not [el for el in root.iter() if el.tag.endswith("}text")], motif
        assert b"The %s product" % motif.encode() not in svg.split(b"</title>")[1]
        drawings.add(svg.split(b"</title>")[1])
    assert len(drawings) == len(MOTIFS)
    # one kind, two products: told apart by their colour and background
    assert product_svg("A", "mug", "Navy", "a") != product_svg("B", "mug", "Rust", "b")


def test_a_photo_smaller_than_a_card_has_one_size(client, db):
    product = ProductFactory(name="Tiny", slug="tiny")
    variant_with_stock(db, 3, product=product)
    _photo(db, product, 300, 200, key="t" * 32)
    [main] = _imgs(client.get("/products/tiny").get_data(as_text=True))
    assert (main["width"], main["height"]) == ("300", "200")
    assert "srcset" not in main
