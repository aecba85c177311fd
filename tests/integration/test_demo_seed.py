"""`flask demo seed`: a believable demo shop, created once."""

import xml.etree.ElementTree as ET

from sqlalchemy import func, select

from app.db import begin_write
from app.demo import selling
from app.models import (
    Category,
    DiscountCode,
    Product,
    ProductImage,
    ProductKind,
    RateKind,
    ShippingPlace,
    ShippingRate,
    ShippingZone,
    StockMovement,
    TaxRate,
    Variant,
)
from app.services.checks import invariants as verify


def _seed(app):
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_demo_shop_has_what_a_demo_needs(app, db):
    _seed(app)
    assert db.scalar(select(func.count(Category.id))) >= 3
    assert db.scalar(select(func.count(Product.id))) >= 24
    assert db.scalar(select(func.count(Product.id)).where(Product.kind == ProductKind.DIGITAL)) >= 2
    multi = db.scalars(
        select(Variant.product_id).group_by(Variant.product_id).having(func.count() > 1)
    ).all()
    assert len(multi) >= 3
    physical = select(Variant).join(Product).where(Product.kind == ProductKind.PHYSICAL)
    on_hand = [v.on_hand for v in db.scalars(physical)]
    assert any(q == 0 for q in on_hand), "some variants are sold out"
    assert any(1 <= q <= 3 for q in on_hand), "some variants are low on stock"
    assert db.scalar(select(func.count(ProductImage.id))) >= 24


def test_seeding_twice_creates_nothing_new(app, db):
    _seed(app)
    counts = [db.scalar(select(func.count(m.id))) for m in (Product, Variant, StockMovement)]
    assert "(0 new products)" in _seed(app)
    assert [
        db.scalar(select(func.count(m.id))) for m in (Product, Variant, StockMovement)
    ] == counts


def test_demo_stock_arrives_through_the_ledger(app, db):
    _seed(app)
    assert verify.check_all(db) == []
    assert db.scalar(select(func.count(StockMovement.id))) > 0


def test_demo_images_are_served_as_svg(app, client, db):
    _seed(app)
    image_id = db.scalar(select(ProductImage.id).limit(1))
    response = client.get(f"/media/images/{image_id}")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    root = ET.fromstring(response.data)
    assert root.tag.endswith("svg")
    assert b"<script" not in response.data
    again = client.get(
        f"/media/images/{image_id}", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304


def test_the_demo_tee_shows_the_drawing_of_the_chosen_colour(app, client, db):
    _seed(app)
    tee = db.scalar(select(Product).where(Product.slug == "harbor-organic-tee"))
    assert [(i.colour, i.position) for i in tee.images] == [("Navy", 0), ("Sand", 1)]
    sand = next(i for i in tee.images if i.colour == "Sand")
    html = client.get("/products/harbor-organic-tee?size=M&colour=Sand").get_data(as_text=True)
    main = html.split('id="product-image"', 1)[1].split("</div>", 1)[0]
    assert f"/media/images/{sand.id}" in main and "in sand" in main  # its alt says so too


def test_the_demo_shop_ships_charges_tax_and_has_welcome_codes(app, db):
    _seed(app)
    zones = {z.name: z for z in db.scalars(select(ShippingZone))}
    assert [(p.country, p.region) for p in zones["Domestic"].places] == [("US", "")]
    assert zones["International"].rest_of_world and not zones["Domestic"].rest_of_world
    standard, express = zones["Domestic"].rates
    assert (standard.name, standard.kind, standard.price_cents, standard.free_above_cents) == (
        "Standard",
        RateKind.FLAT,
        500,
        7500,
    )
    assert express.kind is RateKind.WEIGHT and express.bands[0] == [1000, 1200]
    assert [r.kind for r in zones["International"].rates] == [RateKind.WEIGHT]
    (tax,) = db.scalars(select(TaxRate))
    assert (tax.country, tax.region, tax.percent_thousandths, tax.applies_to_shipping) == (
        "US",
        "",
        7250,
        False,
    )
    welcome = db.scalar(select(DiscountCode).where(DiscountCode.code == "WELCOME10"))
    assert (welcome.value, welcome.once_per_shopper, welcome.usage_limit) == (1000, True, None)
    first = db.scalar(select(DiscountCode).where(DiscountCode.code == "FIRST100"))
    assert (first.value, first.usage_limit) == (1500, 100)
    weights = db.execute(select(Product.kind, Variant.weight_grams).join(Variant)).all()
    assert all(w > 0 for kind, w in weights if kind is ProductKind.PHYSICAL)
    assert all(w == 0 for kind, w in weights if kind is ProductKind.DIGITAL)
    models = (ShippingZone, ShippingPlace, ShippingRate, TaxRate, DiscountCode)
    counts = [db.scalar(select(func.count(m.id))) for m in models]
    _seed(app)
    assert [db.scalar(select(func.count(m.id))) for m in models] == counts


def test_the_demo_ships_from_the_shops_own_country(app, db):
    db.add(ShippingZone(name="Mine", places=[ShippingPlace(country="US", region="")]))
    db.commit()
    session = app.extensions["holdfast.db"].session_factory()
    begin_write(session)
    selling.ensure_selling(session, "gb", "GBP")
    session.commit()
    session.close()
    assert db.scalar(select(TaxRate.percent_thousandths).where(TaxRate.country == "GB")) == 20000
    domestic = db.scalar(select(ShippingZone).where(ShippingZone.name == "Domestic"))
    assert [(p.country, p.region) for p in domestic.places] == [("GB", "")]
    assert {r.currency for r in domestic.rates} == {"GBP"}
