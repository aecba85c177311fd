"""A variant's stock in the admin, through the pages: its level and ledger, the "Adjust stock"
form (a reason required, held units refused unless forced, stock that arrives fills waiting
back-orders), and a digital variant's key pool (pasted or uploaded, duplicates refused and
counted, waiting orders filled; adjusting by hand refused). Then the whole way: a product made
in the admin is on the storefront and goes into a cart."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from app.models import (
    AuditLog,
    LicenseKey,
    OrderStatus,
    ProductKind,
    Role,
    StockMovement,
    Variant,
)
from app.models import Order as OrderRow
from app.services.checks import invariants as verify
from app.services.stock import holds, inventory
from tests.admin_helpers import signed_in, text
from tests.checkout_helpers import buy
from tests.conftest import Browser
from tests.factories import CategoryFactory, ProductFactory, VariantFactory, variant_with_stock


@pytest.fixture
def session(app):
    s = app.extensions["holdfast.db"].session_factory()
    yield s
    s.close()


def key_of(page: str, action: str) -> str:
    form = page.split(f'action="{action}"', 1)[1]
    return re.search(r'name="key" type="hidden" value="([0-9a-f]+)"', form).group(1)


def adjust(browser, variant_id: int, delta, reason="delivery", **extra):
    url = f"/admin/variants/{variant_id}"
    page = text(browser.get(url))
    form = {"delta": str(delta), "reason": reason, "kind": "adjust"}
    form["key"] = key_of(page, f"{url}/adjust")
    form.update(extra)
    return browser.post(f"{url}/adjust", form), form


def import_keys(browser, variant_id: int, pasted: str = "", file: bytes | None = None):
    url = f"/admin/variants/{variant_id}"
    page = text(browser.get(url))
    form = {"keys": pasted, "key": key_of(page, f"{url}/keys")}
    if file is not None:
        form["file"] = (io.BytesIO(file), "keys.csv")
    answer = browser.post(f"{url}/keys", form, content_type="multipart/form-data")
    if answer.status_code == 303:
        return answer, text(browser.get(answer.headers["Location"]))
    return answer, text(answer)


def on_hand(db, variant_id: int) -> int:
    db.expire_all()
    return db.get(Variant, variant_id).on_hand


def digital_variant(**kwargs) -> Variant:
    product = ProductFactory(kind=ProductKind.DIGITAL, name="Lumen Photo Editor")
    return VariantFactory(product=product, allow_backorder=True, price_cents=4900, **kwargs)


# ---------------------------------------------------------------- who may


@pytest.mark.parametrize("path", ["", "/adjust", "/keys"])
def test_a_customer_and_a_visitor_find_no_stock_pages(app, db, path):
    variant = variant_with_stock(db, 3)
    url = f"/admin/variants/{variant.id}{path}"
    customer = signed_in(app, Role.CUSTOMER)
    answer = customer.post(url, {"delta": "5", "reason": "x"}) if path else customer.get(url)
    assert answer.status_code == 404
    assert app.test_client().get(f"/admin/variants/{variant.id}").status_code == 404
    assert on_hand(db, variant.id) == 3


def test_an_adjustment_without_its_csrf_token_is_refused(staff, db):
    variant = variant_with_stock(db, 3)
    answer = staff.client.post(
        f"/admin/variants/{variant.id}/adjust", data={"delta": "5", "reason": "x"}
    )
    assert answer.status_code == 400
    assert on_hand(db, variant.id) == 3


# ---------------------------------------------------------------- level and ledger


def test_the_variant_page_shows_the_level_holds_and_the_ledger(staff, db, session):
    variant = variant_with_stock(db, 10, sku="TEE-M", low_stock_threshold=8)
    hold = holds.take_hold(session, {variant.id: 3})
    page = text(staff.get(f"/admin/variants/{variant.id}"))
    assert '<dd data-stock="on_hand">10</dd>' in page
    assert '<dd data-stock="held">3</dd>' in page
    assert '<dd data-stock="available">7</dd>' in page
    assert f'data-hold="{hold.ref}"' in page
    assert "Low stock: 7 available" in page
    assert "<td>+10</td>" in page and "<td>receive</td>" in page


def test_the_ledger_pages_newest_first(staff, db, session):
    variant = variant_with_stock(db, 1)
    for n in range(24):
        inventory.receive_stock(session, variant.id, 1, reference=f"po-{n:02d}")
    first = text(staff.get(f"/admin/variants/{variant.id}"))
    second = text(staff.get(f"/admin/variants/{variant.id}?page=2"))
    assert "25 movements" in first and "Page 1 of 2" in first
    assert first.index("po-23") < first.index("po-22") and "po-03" not in first
    assert "po-03" in second and "po-23" not in second


# ---------------------------------------------------------------- adjusting


def test_staff_adjust_stock_once_with_a_reason_and_it_is_audited(staff, db):
    variant = variant_with_stock(db, 10)
    answer, form = adjust(staff, variant.id, 5, reason="delivery from supplier")
    again = staff.post(f"/admin/variants/{variant.id}/adjust", form)  # a double click
    assert answer.status_code == again.status_code == 303
    assert on_hand(db, variant.id) == 15
    movement = db.scalars(select(StockMovement).order_by(StockMovement.id.desc())).first()
    assert (movement.delta, movement.note) == (5, "delivery from supplier")
    assert movement.actor.endswith("@example.com")
    entry = db.scalar(select(AuditLog).where(AuditLog.action == "stock.adjust"))
    assert (entry.details["on_hand_before"], entry.details["on_hand_after"]) == (10, 15)
    assert entry.actor_id is not None
    assert "on hand now 15" in text(staff.get(answer.headers["Location"]))


@pytest.mark.parametrize(
    ("delta", "reason", "message"),
    [
        ("5", "", "Say why the stock changes."),
        ("0", "recount", "An adjustment must change the quantity."),
        ("-11", "recount", "cannot remove 11"),
        ("many", "recount", "enter a whole number"),
        ("", "recount", "Enter how many units"),
        ("999999", "recount", "Change by at most"),
    ],
)
def test_a_bad_adjustment_is_a_form_error_and_changes_nothing(staff, db, delta, reason, message):
    variant = variant_with_stock(db, 10)
    answer, _form = adjust(staff, variant.id, delta, reason=reason)
    assert answer.status_code == 422
    assert message in text(answer)
    assert on_hand(db, variant.id) == 10
    assert db.scalar(select(AuditLog).where(AuditLog.action == "stock.adjust")) is None


def test_removing_held_units_is_refused_unless_forced(staff, db, session):
    variant = variant_with_stock(db, 2)
    hold = holds.take_hold(session, {variant.id: 2})
    refused, _form = adjust(staff, variant.id, -1, reason="broken")
    assert refused.status_code == 422
    assert "held by shoppers" in text(refused) and "Forcing it releases" in text(refused)
    assert on_hand(db, variant.id) == 2
    forced, _form = adjust(staff, variant.id, -1, reason="broken", force="y")
    assert forced.status_code == 303
    assert f"released holds {hold.ref}" in text(staff.get(forced.headers["Location"]))
    assert on_hand(db, variant.id) == 1


def test_stock_added_in_the_admin_fills_waiting_back_orders(app, staff, db):
    throw = variant_with_stock(db, 0, allow_backorder=True, sku="THROW", price_cents=8000)
    buy(Browser(app.test_client()), throw, 2)
    assert db.scalar(select(OrderRow.status)) is OrderStatus.AWAITING_STOCK
    answer, _form = adjust(staff, throw.id, 3, reason="delivery", kind="receive")
    assert answer.status_code == 303
    db.expire_all()
    assert db.scalar(select(OrderRow.status)) is OrderStatus.PAID  # set aside, ready to ship
    assert on_hand(db, throw.id) == 1
    assert verify.check_all(db) == []


# ---------------------------------------------------------------- digital: keys are its stock


def test_a_digital_variant_cannot_be_adjusted_by_hand(staff, db):
    lumen = digital_variant(sku="LUMEN")
    page = text(staff.get(f"/admin/variants/{lumen.id}"))
    assert "its stock is its pool of license keys" in page and "Adjust stock" not in page
    form = {"delta": "5", "reason": "found some", "kind": "adjust", "key": "f" * 32}
    refused = staff.post(f"/admin/variants/{lumen.id}/adjust", form)
    assert refused.status_code == 422
    assert "cannot be adjusted by hand" in text(refused)
    assert on_hand(db, lumen.id) == 0
    assert verify.check_all(db) == []


def test_pasted_keys_are_imported_and_duplicates_refused_and_counted(staff, db):
    lumen = digital_variant(sku="LUMEN")
    import_keys(staff, lumen.id, "OLD-1\n")
    answer, page = import_keys(staff, lumen.id, "K-1\nK-2\nK-1\n\nOLD-1\n")
    assert answer.status_code == 303
    assert "2 keys imported; 2 duplicates refused (1 repeated in the upload, 1 already known)" in (
        page
    )
    assert sorted(db.scalars(select(LicenseKey.code))) == ["K-1", "K-2", "OLD-1"]
    assert on_hand(db, lumen.id) == 3
    assert '<dd data-stock="available">3</dd>' in page
    entry = db.scalars(select(AuditLog).where(AuditLog.action == "keys.imported")).all()[-1]
    assert entry.details["imported"] == 2 and entry.actor.endswith("@example.com")
    assert verify.check_all(db) == []


def test_a_double_click_imports_the_keys_once(staff, db):
    lumen = digital_variant(sku="LUMEN")
    url = f"/admin/variants/{lumen.id}"
    form = {"keys": "A-1\nA-2", "key": key_of(text(staff.get(url)), f"{url}/keys")}
    staff.post(f"{url}/keys", form)
    staff.post(f"{url}/keys", form)
    assert on_hand(db, lumen.id) == 2


def test_a_csv_file_of_keys_takes_its_first_column(staff, db):
    lumen = digital_variant(sku="LUMEN")
    csv = b"\xef\xbb\xbfkey,note\nCSV-1,first batch\nCSV-2,first batch\nCSV-1,again\n"
    answer, page = import_keys(staff, lumen.id, file=csv)
    assert answer.status_code == 303
    assert "2 keys imported; 1 duplicate refused" in page
    assert sorted(db.scalars(select(LicenseKey.code))) == ["CSV-1", "CSV-2"]


@pytest.mark.parametrize(
    ("pasted", "file", "message"),
    [
        ("", None, "Paste keys (one per line) or choose a file of keys."),
        ("", b"\xff\xfe\x00bad", "not UTF-8 text"),
        ("X" * 300, None, "A key is longer than 200 characters"),
    ],
)
def test_bad_keys_are_a_form_error_and_import_nothing(staff, db, pasted, file, message):
    lumen = digital_variant(sku="LUMEN")
    answer, page = import_keys(staff, lumen.id, pasted, file)
    assert answer.status_code == 422
    assert message in page
    assert db.scalar(select(LicenseKey.id)) is None


def test_keys_for_a_physical_variant_are_refused(staff, db):
    tee = variant_with_stock(db, 1, sku="TEE")
    form = {"keys": "K-1", "key": "f" * 32}
    answer = staff.post(f"/admin/variants/{tee.id}/keys", form)
    assert answer.status_code == 422
    assert "not a digital product" in text(answer)
    assert db.scalar(select(LicenseKey.id)) is None


def test_keys_uploaded_in_the_admin_fill_a_waiting_order(app, staff, db):
    lumen = digital_variant(sku="LUMEN")
    buy(Browser(app.test_client()), lumen, 1)
    assert db.scalar(select(OrderRow.status)) is OrderStatus.AWAITING_STOCK
    import_keys(staff, lumen.id, "ONLY-ONE")
    db.expire_all()
    assert db.scalar(select(OrderRow.status)) is OrderStatus.FULFILLED
    assert db.scalar(select(LicenseKey.order_line_id)) is not None
    assert verify.check_all(db) == []


# ---------------------------------------------------------------- the whole way


def test_a_product_made_in_the_admin_is_sold_on_the_storefront(app, staff, db):
    category = CategoryFactory(name="Apparel", slug="apparel")
    page = text(staff.get("/admin/products/new"))
    made = staff.post(
        "/admin/products/new",
        {
            "name": "Admin Made Tee",
            "category_id": category.id,
            "kind": "physical",
            "featured": "y",
            "key": key_of(page, "/admin/products/new"),
        },
    )
    product_url = made.headers["Location"]
    page = text(staff.get(product_url))
    staff.post(
        f"{product_url}/variants",
        {
            "sku": "AMT-M",
            "size": "M",
            "price": "24.50",
            "low_stock_threshold": "5",
            "key": key_of(page, f"{product_url}/variants"),
        },
    )
    variant = db.scalar(select(Variant).where(Variant.sku == "AMT-M"))
    adjust(staff, variant.id, 4, reason="first delivery", kind="receive")
    shopper = Browser(app.test_client())
    assert "Admin Made Tee" in text(shopper.get("/"))
    product_page = shopper.get("/products/admin-made-tee")
    assert product_page.status_code == 200 and "$24.50" in text(product_page)
    added = shopper.post("/cart/add", {"variant_id": variant.id, "quantity": 2})
    assert added.status_code == 303
    cart = text(shopper.get("/cart"))
    assert "Admin Made Tee" in cart and "$49.00" in cart
