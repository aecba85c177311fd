"""The admin's catalogue, through the pages: products listed, searched, created, edited and
archived; categories; variants added and edited (prices as decimals, unique SKUs); photos
checked by content, resized and stored under generated names. Each action is for staff and
owners only (404 for everyone else), CSRF-protected, audited and safe to click twice."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.models import AuditLog, Product, ProductImage, ProductKind, Role, Variant
from tests.admin_helpers import signed_in, text
from tests.factories import CategoryFactory, ProductFactory, VariantFactory


@pytest.fixture
def category(db):
    return CategoryFactory(name="Apparel", slug="apparel")


def key_of(page: str, action: str) -> str:
    """The double-click key of the form posting to ``action``."""
    form = page.split(f'action="{action}"', 1)[1]
    return re.search(r'name="key" type="hidden" value="([0-9a-f]+)"', form).group(1)


def create_product(browser, category, name="Heavy Tee", kind="physical", **extra):
    page = text(browser.get("/admin/products/new"))
    form = {"name": name, "category_id": category.id, "kind": kind, "description": "Warm."}
    form["key"] = key_of(page, "/admin/products/new")
    return browser.post("/admin/products/new", {**form, **extra})


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def audit_actions(db) -> list[str]:
    return list(db.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def catalogue_actions(db) -> list[str]:
    kinds = ("product", "category", "variant", "image", "stock", "keys")
    return [a for a in audit_actions(db) if a.split(".")[0] in kinds]


def png_bytes(size=(2000, 1000), fmt="PNG", **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=fmt, **save)
    return out.getvalue()


# ---------------------------------------------------------------- who may


ADMIN_URLS = [
    "/admin/products",
    "/admin/products/new",
    "/admin/products/1",
    "/admin/categories",
    "/admin/variants/1",
]
POSTS = [
    "/admin/products/new",
    "/admin/products/1",
    "/admin/products/1/archive",
    "/admin/categories",
    "/admin/products/1/variants",
    "/admin/products/1/images",
    "/admin/variants/1/adjust",
]


@pytest.mark.parametrize("url", ADMIN_URLS)
def test_a_visitor_and_a_customer_find_no_catalogue(app, db, url):
    ProductFactory()
    assert app.test_client().get(url).status_code == 404
    assert signed_in(app, Role.CUSTOMER).get(url).status_code == 404


@pytest.mark.parametrize("url", POSTS)
def test_a_customer_cannot_post_to_the_catalogue(app, db, url):
    VariantFactory()
    customer = signed_in(app, Role.CUSTOMER)
    assert customer.post(url, {"name": "x"}).status_code == 404
    assert app.test_client().post(url, data={"name": "x"}).status_code in (400, 404)
    assert catalogue_actions(db) == []


def test_staff_see_the_products_link_and_list(staff, category):
    ProductFactory(name="Canvas Tote", category=category)
    assert 'href="/admin/products"' in text(staff.get("/admin"))
    page = staff.get("/admin/products")
    assert page.status_code == 200 and "Canvas Tote" in text(page)


def test_a_post_without_its_csrf_token_is_refused(staff, category, db):
    answer = staff.client.post(
        "/admin/products/new", data={"name": "X", "category_id": category.id, "kind": "physical"}
    )
    assert answer.status_code == 400
    assert count(db, Product) == 0


# ---------------------------------------------------------------- products


def test_staff_create_a_product_with_a_slug_once_even_on_a_double_click(staff, category, db):
    page = text(staff.get("/admin/products/new"))
    form = {
        "name": "Café Mug (Large)",
        "category_id": category.id,
        "kind": "physical",
        "key": key_of(page, "/admin/products/new"),
    }
    first = staff.post("/admin/products/new", form)
    second = staff.post("/admin/products/new", form)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    product = db.scalar(select(Product))
    assert count(db, Product) == 1
    assert (product.slug, product.is_active, product.kind) == (
        "cafe-mug-large",
        True,
        ProductKind.PHYSICAL,
    )
    entry = db.scalar(select(AuditLog).where(AuditLog.action == "product.created"))
    assert entry.subject_id == product.id and entry.actor.endswith("@example.com")
    assert "Café Mug (Large) is created" in text(staff.get(first.headers["Location"]))


def test_slugs_stay_unique(owner, category, db):
    create_product(owner, category, name="Mug")
    create_product(owner, category, name="Mug")
    assert sorted(db.scalars(select(Product.slug))) == ["mug", "mug-2"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "Give the product a name."),
        ("category_id", "99999", "Choose a category"),
        ("category_id", "abc", "Choose a category."),
        ("kind", "gaseous", "Not a valid choice"),
    ],
)
def test_a_bad_product_is_a_form_error_and_creates_nothing(
    owner, category, db, field, value, message
):
    answer = create_product(owner, category, **{field: value})
    assert answer.status_code == 422
    assert message in text(answer)
    assert count(db, Product) == 0


def test_editing_a_product_renames_it_and_audits_before_and_after(owner, category, db):
    location = create_product(owner, category, name="Old Name").headers["Location"]
    product = db.scalar(select(Product))
    page = text(owner.get(location))
    answer = owner.post(
        location,
        {
            "name": "New Name",
            "category_id": category.id,
            "kind": "physical",
            "description": "Better.",
            "featured": "y",
            "key": key_of(page, location),
        },
    )
    assert answer.status_code == 303
    db.expire_all()
    product = db.get(Product, product.id)
    assert (product.name, product.slug, product.featured) == ("New Name", "new-name", True)
    entry = db.scalar(select(AuditLog).where(AuditLog.action == "product.updated"))
    assert entry.details["name"] == {"before": "Old Name", "after": "New Name"}


def test_a_product_with_variants_keeps_its_kind(owner, category, db):
    variant = VariantFactory(product__category=category)
    url = f"/admin/products/{variant.product_id}"
    page = text(owner.get(url))
    answer = owner.post(
        url,
        {"name": "P", "category_id": category.id, "kind": "digital", "key": key_of(page, url)},
    )
    assert answer.status_code == 422
    assert "cannot change between physical and digital" in text(answer)
    db.expire_all()
    assert db.get(Product, variant.product_id).kind is ProductKind.PHYSICAL


def test_archiving_takes_a_product_off_the_storefront_and_back(staff, db, client):
    variant = VariantFactory(product__name="Retired Lamp", product__slug="retired-lamp")
    pid = variant.product_id
    assert staff.post(f"/admin/products/{pid}/archive").status_code == 303
    assert staff.post(f"/admin/products/{pid}/archive").status_code == 303  # a second click
    db.expire_all()
    assert db.get(Product, pid).is_active is False
    assert client.get("/products/retired-lamp").status_code == 404
    assert "Retired Lamp" not in text(staff.get("/admin/products"))
    assert "Retired Lamp" in text(staff.get("/admin/products?archived=1"))
    assert audit_actions(db).count("product.archived") == 1
    assert staff.post(f"/admin/products/{pid}/unarchive").status_code == 303
    assert client.get("/products/retired-lamp").status_code == 200
    assert "product.unarchived" in audit_actions(db)


def test_the_list_searches_names_and_skus_and_pages(owner, category, db):
    for i in range(27):
        ProductFactory(name=f"Item {i:02d}", category=category)
    VariantFactory(sku="ZEBRA-1", product__name="Striped Scarf", product__category=category)
    assert "Striped Scarf" in text(owner.get("/admin/products?q=zebra"))
    found = text(owner.get("/admin/products?q=item 0"))
    assert "Item 05" in found and "Item 15" not in found
    first, second = text(owner.get("/admin/products")), text(owner.get("/admin/products?page=2"))
    assert "28 products" in first and "Page 1 of 2" in first
    assert "Striped Scarf" in second and "Item 00" not in second
    fragment = text(owner.get("/admin/products?q=zebra", headers={"HX-Request": "true"}))
    assert "Striped Scarf" in fragment and "<html" not in fragment


def test_an_unknown_product_is_a_404(owner):
    assert owner.get("/admin/products/999").status_code == 404
    assert owner.post("/admin/products/999/archive").status_code == 404


# ---------------------------------------------------------------- categories


def test_categories_are_created_once_and_renamed(staff, db):
    assert staff.post("/admin/categories", {"name": "Home Goods"}).status_code == 303
    assert staff.post("/admin/categories", {"name": "Home Goods"}).status_code == 303
    page = text(staff.get("/admin/categories"))
    assert "Home Goods" in page and "/category/home-goods" in page
    from app.models import Category

    assert count(db, Category) == 1
    cid = db.scalar(select(Category.id))
    assert staff.post(f"/admin/categories/{cid}", {"name": "Kitchen"}).status_code == 303
    assert "/category/kitchen" in text(staff.get("/admin/categories"))
    assert catalogue_actions(db) == ["category.created", "category.renamed"]


def test_a_bad_category_name_is_a_form_error(staff, db):
    CategoryFactory(name="Books")
    answer = staff.post("/admin/categories", {"name": ""})
    assert answer.status_code == 422 and "Give the category a name." in text(answer)
    other = CategoryFactory(name="Music")
    answer = staff.post(f"/admin/categories/{other.id}", {"name": "books"})
    assert "There is already a category named" in text(staff.get(answer.headers["Location"]))
    assert "category.renamed" not in catalogue_actions(db)


# ---------------------------------------------------------------- variants


def add_variant(browser, product_id: int, **fields):
    url = f"/admin/products/{product_id}"
    page = text(browser.get(url))
    form = {"sku": "TEE-M", "price": "19.99", "low_stock_threshold": "5", "size": "M"}
    form["key"] = key_of(page, f"{url}/variants")
    return browser.post(f"{url}/variants", {**form, **fields})


def test_staff_add_a_variant_with_a_decimal_price_once(staff, db):
    product = ProductFactory()
    url = f"/admin/products/{product.id}"
    page = text(staff.get(url))
    form = {
        "sku": "TEE-M",
        "price": "19.99",
        "size": "M",
        "colour": "Navy",
        "low_stock_threshold": "3",
        "key": key_of(page, f"{url}/variants"),
    }
    assert staff.post(f"{url}/variants", form).status_code == 303
    assert staff.post(f"{url}/variants", form).status_code == 303  # double click
    variant = db.scalar(select(Variant))
    assert count(db, Variant) == 1
    assert (variant.price_cents, variant.size, variant.colour, variant.low_stock_threshold) == (
        1999,
        "M",
        "Navy",
        3,
    )
    assert (variant.allow_backorder, variant.on_hand) == (False, 0)
    assert "variant.created" in audit_actions(db)
    assert "TEE-M" in text(staff.get(url))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"price": "abc"}, "price"),
        ({"price": "12.345"}, "price"),
        ({"price": "-3"}, "price"),
        ({"sku": "bad sku!"}, "A SKU is 1 to 64 letters"),
        ({"sku": "TAKEN"}, "The SKU TAKEN is already used"),
        ({"sku": "taken"}, "is already used"),
        ({"low_stock_threshold": "-1"}, "low-stock threshold"),
    ],
)
def test_a_bad_variant_is_a_form_error_and_adds_nothing(owner, db, fields, message):
    VariantFactory(sku="TAKEN")
    product = ProductFactory()
    answer = add_variant(owner, product.id, **fields)
    assert answer.status_code == 422
    assert message.lower() in text(answer).lower()
    assert count(db, Variant) == 1
    assert "variant.created" not in audit_actions(db)


def backorder_box(page: str) -> str:
    return re.search(r'<input[^>]*id="variant-allow_backorder"[^>]*>', page).group(0)


def test_a_digital_variant_sells_on_back_order_by_default(owner, db):
    digital = ProductFactory(kind=ProductKind.DIGITAL)
    assert "checked" in backorder_box(text(owner.get(f"/admin/products/{digital.id}")))
    physical = ProductFactory()
    assert "checked" not in backorder_box(text(owner.get(f"/admin/products/{physical.id}")))
    add_variant(owner, digital.id, sku="GAME-KEY", allow_backorder="y")
    assert db.scalar(select(Variant.allow_backorder).where(Variant.sku == "GAME-KEY")) is True


def test_editing_a_variant_changes_its_price_and_audits_it(staff, db):
    variant = VariantFactory(sku="CAP", price_cents=1000)
    url = f"/admin/variants/{variant.id}"
    page = text(staff.get(url))
    assert 'value="10.00"' in page
    form = {"sku": "CAP", "price": "12.50", "low_stock_threshold": "2", "key": key_of(page, url)}
    assert staff.post(url, form).status_code == 303
    db.expire_all()
    variant = db.get(Variant, variant.id)
    assert (variant.price_cents, variant.low_stock_threshold) == (1250, 2)
    entry = db.scalar(select(AuditLog).where(AuditLog.action == "variant.updated"))
    assert entry.details["price_cents"] == {"before": 1000, "after": 1250}
    bad = staff.post(url, {**form, "price": "twelve"})
    assert bad.status_code == 422
    db.expire_all()
    assert db.get(Variant, variant.id).price_cents == 1250


# ---------------------------------------------------------------- photos


def upload(browser, product_id: int, data: bytes, filename="photo.png", alt="A tee", **extra):
    url = f"/admin/products/{product_id}"
    page = text(browser.get(url))
    form = {"alt": alt, "key": key_of(page, f"{url}/images"), **extra}
    form["image"] = (io.BytesIO(data), filename)
    return browser.post(f"{url}/images", form, content_type="multipart/form-data"), form


def test_a_photo_is_checked_resized_renamed_and_stripped(staff, db, client):
    product = ProductFactory()
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    answer, _form = upload(staff, product.id, png_bytes(fmt="JPEG", exif=exif), "IMG_1.jpg")
    assert answer.status_code == 303
    image = db.scalar(select(ProductImage))
    assert (image.width, image.height, image.content_type) == (1200, 600, "image/jpeg")
    assert re.fullmatch(r"[0-9a-f]{32}\.jpg", image.stored_name)
    full = Image.open(io.BytesIO(client.get(f"/media/images/{image.id}").data))
    card = Image.open(io.BytesIO(client.get(f"/media/images/{image.id}?size=card").data))
    assert full.size == (1200, 600) and card.size == (400, 200)
    assert "SecretCam" not in str(dict(full.getexif())) and not full.getexif()
    assert "image.added" in audit_actions(db)


def test_a_double_click_uploads_one_photo(staff, db):
    product = ProductFactory()
    answer, form = upload(staff, product.id, png_bytes((50, 50)))
    form["image"] = (io.BytesIO(png_bytes((50, 50))), "photo.png")
    again = staff.post(f"/admin/products/{product.id}/images", form)
    assert answer.status_code == again.status_code == 303
    assert count(db, ProductImage) == 1


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"this is text, not a picture", "fake.png", "not a JPEG, PNG, WebP or GIF"),
        (b"", "empty.png", "Choose an image file"),
        (b"BM" + b"\0" * 200, "bitmap.png", "not a JPEG, PNG, WebP or GIF"),
    ],
)
def test_a_file_that_is_not_an_image_is_refused(owner, db, data, name, message):
    product = ProductFactory()
    answer, _form = upload(owner, product.id, data, name)
    assert answer.status_code == 422
    assert message in text(answer)
    assert count(db, ProductImage) == 0


def test_a_photo_over_5_mb_is_refused_with_a_clear_message(owner, db):
    product = ProductFactory()
    big = png_bytes((64, 64)) + b"\0" * (5 * 1024 * 1024 + 10)  # a PNG with trailing bytes
    answer, _form = upload(owner, product.id, big)
    assert answer.status_code == 422
    assert "images may be at most 5 MB" in text(answer)
    assert count(db, ProductImage) == 0


def test_a_gif_and_a_webp_are_stored_resized(owner, db):
    product = ProductFactory()
    upload(owner, product.id, png_bytes((800, 800), fmt="GIF"), "a.gif")
    upload(owner, product.id, png_bytes((300, 100), fmt="WEBP"), "b.webp")
    rows = db.scalars(select(ProductImage).order_by(ProductImage.id)).all()
    assert [(r.content_type, r.width, r.position) for r in rows] == [
        ("image/png", 800, 0),
        ("image/webp", 300, 1),
    ]


def test_photos_get_alt_text_an_order_and_are_deleted_once(staff, db):
    product = ProductFactory()
    upload(staff, product.id, png_bytes((40, 40)))
    image = db.scalar(select(ProductImage))
    url = f"/admin/products/{product.id}/images/{image.id}"
    assert staff.post(url, {"alt": "Front view", "position": "3"}).status_code == 303
    db.expire_all()
    assert (db.get(ProductImage, image.id).alt, db.get(ProductImage, image.id).position) == (
        "Front view",
        3,
    )
    bad = staff.post(url, {"alt": "x", "position": "-1"})
    assert "flash-error" in text(staff.get(bad.headers["Location"]))
    assert staff.post(f"{url}/delete").status_code == 303
    again = staff.post(f"{url}/delete")
    assert "already deleted" in text(staff.get(again.headers["Location"]))
    assert count(db, ProductImage) == 0
    assert audit_actions(db).count("image.deleted") == 1


def test_a_photo_is_tied_to_a_colour_the_storefront_shows_for_it(staff, db, client):
    product = ProductFactory(slug="cap")
    for colour in ("Olive", "Stone"):
        VariantFactory(product=product, colour=colour, on_hand=0, allow_backorder=True)
    page = text(staff.get(f"/admin/products/{product.id}"))
    assert '<option value="Stone">Stone</option>' in page  # the upload form offers its colours
    refused, _form = upload(staff, product.id, png_bytes((40, 40)), colour="Purple")
    assert refused.status_code == 422 and "No variant of this product is Purple" in text(refused)
    assert count(db, ProductImage) == 0
    upload(staff, product.id, png_bytes((40, 40)), alt="whole cap")
    upload(staff, product.id, png_bytes((40, 40)), alt="stone cap", colour="stone")
    whole, stone = db.scalars(select(ProductImage).order_by(ProductImage.id)).all()
    assert (whole.colour, stone.colour) == (None, "Stone")  # spelt as the variants spell it

    def shown(query: str) -> str:
        html = text(client.get(f"/products/cap?{query}"))
        block = html.split('id="product-image"', 1)[1].split("</div>", 1)[0]
        return re.search(r'alt="([^"]*)"', block).group(1)

    assert (shown("colour=Olive"), shown("colour=Stone")) == ("whole cap", "stone cap")
    url = f"/admin/products/{product.id}/images/{whole.id}"
    staff.post(url, {"alt": "olive cap", "position": "0", "colour": "Olive"})
    staff.post(f"/admin/products/{product.id}/images/{stone.id}", {"alt": "x", "position": "1"})
    db.expire_all()
    assert (db.get(ProductImage, whole.id).colour, db.get(ProductImage, stone.id).colour) == (
        "Olive",
        "Stone",  # a row form without the select leaves the colour as it was
    )
    assert shown("colour=Olive") == "olive cap"
    bad = staff.post(url, {"alt": "x", "position": "0", "colour": "Teal"})
    assert "No variant of this product is Teal" in text(staff.get(bad.headers["Location"]))
    db.expire_all()
    assert db.get(ProductImage, whole.id).alt == "olive cap"  # the refused edit changed nothing


def test_the_storefront_cards_use_the_card_size_and_drawings_fall_back(db, client):
    product = ProductFactory(name="Drawn", featured=True)
    VariantFactory(product=product)
    svg = b"<svg xmlns='http://www.w3.org/2000/svg'/>"
    db.add(ProductImage(product_id=product.id, data=svg, content_type="image/svg+xml"))
    db.commit()
    image_id = db.scalar(select(ProductImage.id))
    assert f"/media/images/{image_id}?size=card" in text(client.get("/"))
    assert client.get(f"/media/images/{image_id}?size=card").data == svg


def test_only_the_upload_forms_take_a_body_over_1_mb(owner, db):
    product = ProductFactory()
    huge, _form = upload(owner, product.id, b"\0" * (7 * 1024 * 1024))
    assert huge.status_code == 413  # over MAX_UPLOAD_LENGTH (6 MB): refused before parsing
    padded = owner.post(
        f"/admin/products/{product.id}/images/1",
        {"alt": "x", "position": "1", "pad": (io.BytesIO(b"\0" * (2 * 1024 * 1024)), "pad.bin")},
        content_type="multipart/form-data",
    )
    assert padded.status_code == 413  # any other form keeps MAX_CONTENT_LENGTH (1 MB)
    assert count(db, ProductImage) == 0
