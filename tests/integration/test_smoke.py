from tests.factories import variant_with_stock


def test_home_page_lists_featured_products(client, db):
    v = variant_with_stock(db, 5, product__featured=True, product__name="Waxed Canvas Tote")
    response = client.get("/")
    assert response.status_code == 200
    assert "Waxed Canvas Tote" in response.get_data(as_text=True)
    assert v.on_hand == 5
