"""What a shopper sees browsing the shop: home, categories, product pages, search."""

import re

from sqlalchemy import event

from tests.factories import CategoryFactory, ProductFactory, variant_with_stock


def test_home_shows_categories_and_featured_products(client, db):
    cat = CategoryFactory(name="Kitchen Goods")
    variant_with_stock(
        db, 4, product__name="Enamel Camp Mug", product__featured=True, product__category=cat
    )
    variant_with_stock(
        db, 4, product__name="Plain Spoon", product__featured=False, product__category=cat
    )
    html = client.get("/").get_data(as_text=True)
    assert "Kitchen Goods" in html
    assert "Enamel Camp Mug" in html
    assert "Plain Spoon" not in html


def _names(html: str) -> list[str]:
    return re.findall(r'class="card-name">([^<]+)<', html)


def test_category_pages_sort_by_price_and_paginate(app, client, db):
    app.config["CATALOG_PAGE_SIZE"] = 2
    cat = CategoryFactory(slug="mugs", name="Mugs")
    for name, price in [("Mug B", 3000), ("Mug A", 1000), ("Mug C", 2000)]:
        variant_with_stock(db, 3, price_cents=price, product__name=name, product__category=cat)

    first = client.get("/category/mugs?sort=price_asc").get_data(as_text=True)
    assert _names(first) == ["Mug A", "Mug C"]
    assert "Page 1 of 2" in first
    second = client.get("/category/mugs?sort=price_asc&page=2").get_data(as_text=True)
    assert _names(second) == ["Mug B"]
    desc = client.get("/category/mugs?sort=price_desc").get_data(as_text=True)
    assert _names(desc) == ["Mug B", "Mug C"]


def test_category_listing_swaps_only_the_listing_for_htmx(client, db):
    cat = CategoryFactory(slug="caps")
    variant_with_stock(db, 3, product__name="Wool Cap", product__category=cat)
    response = client.get("/category/caps?sort=name", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert "Wool Cap" in body
    assert "<html" not in body
    assert "HX-Request" in response.headers["Vary"]


def test_bad_paging_and_sorting_input_still_answers_a_page(client, db):
    cat = CategoryFactory(slug="socks")
    variant_with_stock(db, 3, product__name="Merino Socks", product__category=cat)
    for query in ["page=abc", "page=-3", "page=99999999999", "sort=drop%20table", "page=5"]:
        response = client.get(f"/category/socks?{query}")
        assert response.status_code == 200, query
        assert "Merino Socks" in response.get_data(as_text=True)


def test_unknown_category_and_product_answer_a_styled_404(client, db):
    for url in ["/category/nope", "/products/nope", "/no/such/page"]:
        response = client.get(url)
        assert response.status_code == 404
        assert "Page not found" in response.get_data(as_text=True)


def test_product_page_marks_the_variants_that_are_sold_out(client, db):
    product = ProductFactory(name="Harbor Tee", slug="harbor-tee")
    variant_with_stock(db, 3, product=product, name="S / Navy", price_cents=2800)
    variant_with_stock(db, 0, product=product, name="M / Navy", price_cents=2800)
    variant_with_stock(db, 40, product=product, name="L / Navy", price_cents=2800)
    html = client.get("/products/harbor-tee").get_data(as_text=True)
    labels = re.findall(r'<span class="option-text">([^<]+)</span>([^\n]*)', html)
    assert labels == [
        ("S / Navy", ""),
        ("M / Navy", '<span class="visually-hidden">(sold out)</span>'),
        ("L / Navy", ""),
    ]
    assert "Only 3 left" in html and "$28.00" in html


def test_choosing_a_variant_refreshes_the_availability_panel(client, db):
    product = ProductFactory(slug="tee")
    variant_with_stock(db, 9, product=product, name="S")
    sold_out = variant_with_stock(db, 0, product=product, name="M")
    response = client.get(
        f"/products/tee/availability?variant_id={sold_out.id}", headers={"HX-Request": "true"}
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Sold out" in body
    assert "<html" not in body


def test_back_orderable_variants_say_so_instead_of_sold_out(client, db):
    variant_with_stock(db, 0, allow_backorder=True, product__slug="throw")
    html = client.get("/products/throw").get_data(as_text=True)
    assert "Back-order: ships later" in html


def test_search_matches_names_and_descriptions_with_every_word(client, db):
    variant_with_stock(db, 2, product__name="Linen Apron", product__description="Heavy linen.")
    variant_with_stock(db, 2, product__name="Canvas Tote", product__description="Holds linen too.")
    variant_with_stock(db, 2, product__name="Steel Pen", product__description="Writes.")
    html = client.get("/search?q=linen").get_data(as_text=True)
    assert set(_names(html)) == {"Linen Apron", "Canvas Tote"}
    html = client.get("/search?q=linen+apron").get_data(as_text=True)
    assert _names(html) == ["Linen Apron"]


def test_search_treats_wildcards_and_long_input_as_plain_text(client, db):
    variant_with_stock(db, 2, product__name="Wool Scarf")
    for q in ["%", "_", "100%25", "'; drop table products; --", "x" * 5000, "\\"]:
        response = client.get("/search", query_string={"q": q})
        assert response.status_code == 200
        assert "Wool Scarf" not in response.get_data(as_text=True)


def test_a_catalogue_page_costs_the_same_queries_for_many_products(app, client, db):
    cat = CategoryFactory(slug="many")
    variant_with_stock(db, 2, product__category=cat)

    def count_queries(url: str) -> int:
        engine = app.extensions["holdfast.db"].engine
        seen = []
        listener = lambda *args: seen.append(1)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get(url).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    few = count_queries("/category/many")
    for _ in range(8):
        product = ProductFactory(category=cat)
        variant_with_stock(db, 2, product=product)
        variant_with_stock(db, 1, product=product)
    assert count_queries("/category/many") == few
