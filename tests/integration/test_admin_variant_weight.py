"""A variant's shipping weight in the admin: entered in grams on the variant forms, 0 allowed
(a weightless item), anything negative or not a whole number refused with a message and
nothing changed; each change audited."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.models import AuditLog, Variant
from tests.admin_helpers import text
from tests.factories import ProductFactory
from tests.integration.test_admin_catalogue import add_variant, key_of


def test_a_variant_carries_its_weight_in_grams_and_refuses_a_bad_one(staff, db):
    product = ProductFactory()
    assert add_variant(staff, product.id, sku="MUG-W", weight_grams="450").status_code == 303
    variant = db.scalar(select(Variant).where(Variant.sku == "MUG-W"))
    assert variant.weight_grams == 450
    url = f"/admin/variants/{variant.id}"
    page = text(staff.get(url))
    assert re.search(r'id="variant-weight_grams"[^>]*value="450"', page)
    form = {"sku": "MUG-W", "price": "19.99", "low_stock_threshold": "5", "key": key_of(page, url)}
    for bad, message in (("-5", "whole number of grams"), ("heavy", "enter a whole number")):
        answer = staff.post(url, {**form, "weight_grams": bad})
        assert answer.status_code == 422 and message in text(answer)
        db.expire_all()
        assert db.get(Variant, variant.id).weight_grams == 450
    assert staff.post(url, {**form, "weight_grams": "0"}).status_code == 303  # weightless
    db.expire_all()
    assert db.get(Variant, variant.id).weight_grams == 0
    entry = db.scalar(
        select(AuditLog).where(AuditLog.action == "variant.updated").order_by(AuditLog.id.desc())
    )
    assert entry.details["weight_grams"] == {"before": 450, "after": 0}
