"""`flask demo seed --products N`: a catalogue big enough to measure, created once."""

from sqlalchemy import func, select

from app.models import Category, Product, ProductImage, StockMovement, Variant
from app.services.checks import invariants as verify


def _seed(app, products: int) -> str:
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--products", str(products)])
    assert result.exit_code == 0, result.output
    return result.output


def _counts(db) -> list[int]:
    models = (Product, Variant, StockMovement, ProductImage)
    return [db.scalar(select(func.count(m.id))) for m in models]


def test_a_catalogue_of_n_products_spread_over_the_categories(app, db, client):
    assert "120 products" in _seed(app, 120)
    assert db.scalar(select(func.count(Product.id))) == 120
    per_category = db.execute(
        select(Category.slug, func.count(Product.id)).join(Product).group_by(Category.slug)
    ).all()
    assert len(per_category) == 4 and min(n for _slug, n in per_category) >= 20
    assert db.scalar(select(func.count(Product.id)).where(~Product.images.any())) == 0
    coloured = select(Variant.product_id, Variant.colour).where(Variant.colour.is_not(None))
    tied = select(ProductImage.product_id, ProductImage.colour)
    tied = tied.where(ProductImage.colour.is_not(None))
    assert set(db.execute(tied).all()) == set(db.execute(coloured).all())  # one per colour
    per_product = select(func.count(Variant.id)).group_by(Variant.product_id)
    assert min(db.scalars(per_product)) >= 1 and max(db.scalars(per_product)) >= 3
    generated = db.scalar(select(Product).where(Product.slug == "gen-00007"))
    page = client.get(f"/products/{generated.slug}").get_data(as_text=True)
    assert generated.name in page


def test_the_catalogue_stock_arrives_through_the_ledger_and_a_rerun_adds_nothing(app, db):
    _seed(app, 80)
    counts = _counts(db)
    assert verify.check_all(db) == []
    assert "(0 new generated products)" in _seed(app, 80)
    assert _counts(db) == counts
    _seed(app, 90)  # growing it adds only the missing ten
    assert db.scalar(select(func.count(Product.id))) == 90
    assert verify.check_all(db) == []
