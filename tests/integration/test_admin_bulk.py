"""Bulk work through the admin's pages: the catalogue exported as CSV, edited, checked in a dry
run that changes nothing, then applied in one transaction (stock through the ledger, one audit
row, a double click applied once); bad rows named by row and column; a digital variant's stock
refused; the orders exported for the accountant; who may do it."""

from __future__ import annotations

import base64
import csv
import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from app.models import (
    AuditLog,
    MovementReason,
    OrderStatus,
    Product,
    ProductKind,
    Role,
    StockMovement,
    Variant,
)
from app.models import Order as OrderRow
from app.services.stock import keys
from tests.admin_helpers import PASSWORD, signed_in, text
from tests.checkout_helpers import buy
from tests.conftest import Browser
from tests.factories import CategoryFactory, ProductFactory, VariantFactory, variant_with_stock


@pytest.fixture
def mug(db) -> Variant:
    category = CategoryFactory(slug="mugs", name="Mugs")
    product = ProductFactory(slug="blue-mug", name='Blue mug, "tall"', category=category)
    return variant_with_stock(db, 10, product=product, sku="MUG-BLUE", price_cents=1250)


def export(person: Browser) -> list[dict[str, str]]:
    answer = person.get("/admin/bulk/catalogue.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(text(answer))))


def to_file(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def dry_run(person: Browser, data: bytes):
    return person.post(
        "/admin/bulk/import",
        {"file": (io.BytesIO(data), "catalogue.csv")},
        content_type="multipart/form-data",
    )


def apply_form(page: str) -> dict:
    token = page.split('name="token" type="hidden" value="')[1].split('"')[0]
    chunks = [part.split('"')[0] for part in page.split('name="chunk" value="')[1:]]
    return {"token": token, "chunk": chunks}


def movements(db, variant: Variant) -> list[StockMovement]:
    return list(db.scalars(select(StockMovement).where(StockMovement.variant_id == variant.id)))


def test_export_edit_dry_run_then_apply_changes_price_and_stock(owner, mug, db):
    rows = export(owner)
    assert rows == [
        {
            "product_slug": "blue-mug",
            "product_name": 'Blue mug, "tall"',  # quoted in the file, read back whole
            "category_slug": "mugs",
            "kind": "physical",
            "sku": "MUG-BLUE",
            "variant_name": "",
            "size": "",
            "colour": "",
            "price": "12.50",
            "currency": "USD",
            "allow_backorder": "no",
            "low_stock_threshold": "5",
            "on_hand": "10",
            "weight_grams": "0",
        }
    ]
    rows[0].update(price="14.00", on_hand="7")
    page = dry_run(owner, to_file(rows))
    assert page.status_code == 200
    body = text(page)
    assert "Nothing has changed yet" in body
    assert "<td>12.50</td><td>14.00</td>" in body and "<td>10</td><td>7</td>" in body
    db.expire_all()
    assert (db.get(Variant, mug.id).price_cents, db.get(Variant, mug.id).on_hand) == (1250, 10)

    applied = owner.post("/admin/bulk/apply", apply_form(body), content_type="multipart/form-data")
    assert applied.status_code == 303
    assert "1 price(s), 1 stock level(s)" in text(owner.get(applied.headers["Location"]))
    db.expire_all()
    variant = db.get(Variant, mug.id)
    assert (variant.price_cents, variant.on_hand) == (1400, 7)
    last = movements(db, mug)[-1]
    assert (last.delta, last.reason, last.actor) == (-3, MovementReason.ADJUST, "owner@example.com")
    entry = db.scalar(select(AuditLog).where(AuditLog.action == "catalogue.import"))
    assert entry.details["prices_changed"] == entry.details["stock_changed"] == 1
    assert entry.actor == "owner@example.com"
    assert {"sku": "MUG-BLUE", "field": "price", "before": "12.50", "after": "14.00"} in (
        entry.details["changes"]
    )


def test_a_double_click_on_apply_applies_once(owner, mug, db):
    rows = export(owner)
    rows[0].update(on_hand="15")
    form = apply_form(text(dry_run(owner, to_file(rows))))
    first = owner.post("/admin/bulk/apply", form, content_type="multipart/form-data")
    second = owner.post("/admin/bulk/apply", form, content_type="multipart/form-data")
    assert first.status_code == second.status_code == 303
    assert "applied already" in text(owner.get(second.headers["Location"]))
    db.expire_all()
    assert db.get(Variant, mug.id).on_hand == 15
    assert [m.delta for m in movements(db, mug)] == [10, 5]
    imports = (
        select(func.count()).select_from(AuditLog).where(AuditLog.action == "catalogue.import")
    )
    assert db.scalar(imports) == 1


def test_two_clicks_at_once_apply_once(app, owner, mug, db):
    other = Browser(app.test_client())  # the same owner in a second tab, posting at once
    other.get("/login")
    other.post("/login", {"email": "owner@example.com", "password": PASSWORD})
    rows = export(owner)
    rows[0].update(on_hand="12", price="13.00")
    form = apply_form(text(dry_run(owner, to_file(rows))))
    other.get("/admin/bulk")
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda person: person.post(
                    "/admin/bulk/apply", dict(form), content_type="multipart/form-data"
                ),
                [owner, other],
            )
        )
    assert [a.status_code for a in answers] == [303, 303]
    db.expire_all()
    assert (db.get(Variant, mug.id).on_hand, db.get(Variant, mug.id).price_cents) == (12, 1300)
    assert [m.delta for m in movements(db, mug)] == [10, 2]


def test_new_products_and_variants_are_created_with_their_stock(owner, mug, db):
    rows = export(owner)
    new = dict(rows[0], product_slug="red-mug", product_name="Red mug", sku="MUG-RED")
    rows.append(dict(new, price="9.99", on_hand="4", colour="red"))
    body = text(dry_run(owner, to_file(rows)))
    assert "New products (1)" in body and "New variants (1)" in body
    owner.post("/admin/bulk/apply", apply_form(body), content_type="multipart/form-data")
    red = db.scalar(select(Variant).where(Variant.sku == "MUG-RED"))
    assert (red.price_cents, red.on_hand, red.colour, red.product.name) == (
        999,
        4,
        "red",
        "Red mug",
    )
    assert [m.delta for m in movements(db, red)] == [4]


def test_bad_rows_are_named_by_row_and_column_and_nothing_changes(owner, mug, db):
    rows = export(owner)
    rows[0].update(price="14.00")  # a good row: still not applied
    rows.append(dict(rows[0], sku="MUG-2", price="twelve"))
    rows.append(dict(rows[0], sku="MUG-3", on_hand="-1", kind="paper", category_slug="nope"))
    page = dry_run(owner, to_file(rows))
    assert page.status_code == 422
    body = text(page)
    assert "row 3, price: enter an amount such as 12.50" in body
    assert "row 4, kind: enter physical or digital" in body
    assert "row 4, on_hand: enter a whole number" in body
    assert 'name="chunk"' not in body  # no apply button
    db.expire_all()
    assert db.get(Variant, mug.id).price_cents == 1250
    assert db.scalar(select(func.count()).select_from(Product)) == 1


def test_a_file_with_an_error_is_refused_at_apply_time_too(owner, mug, db):
    rows = export(owner)
    rows[0].update(price="14.00")
    form = apply_form(text(dry_run(owner, to_file(rows))))
    rows.append(dict(rows[0], product_slug="cup", sku="MUG-2", category_slug="nope"))
    bad = apply_form(text(dry_run(owner, to_file(rows[:1]))))  # a fresh token
    bad["chunk"] = [base64.b64encode(to_file(rows)).decode()]
    answer = owner.post("/admin/bulk/apply", bad, content_type="multipart/form-data")
    assert answer.status_code == 422
    assert "row 3, category_slug: there is no category nope" in text(answer)
    db.expire_all()
    assert db.get(Variant, mug.id).price_cents == 1250
    assert form["token"] != bad["token"]


def test_a_digital_variants_stock_cannot_be_set_from_csv(owner, db):
    product = ProductFactory(slug="e-book", kind=ProductKind.DIGITAL)
    book = VariantFactory(product=product, sku="EBOOK", allow_backorder=True)
    keys.import_keys(db, "EBOOK", ["KEY-1", "KEY-2"])
    rows = export(owner)
    assert rows[0]["on_hand"] == "2" and rows[0]["kind"] == "digital"
    rows[0].update(on_hand="50")
    page = dry_run(owner, to_file(rows))
    assert page.status_code == 422
    assert "row 2, on_hand: a digital variant&#39;s stock is its pool of license keys" in text(page)
    db.expire_all()
    assert db.get(Variant, book.id).on_hand == 2


def test_a_file_that_is_not_csv_or_misses_columns_says_so(owner, mug, db):
    answer = dry_run(owner, b"\xff\xfe\x00garbage")
    assert answer.status_code == 303
    assert "not UTF-8" in text(owner.get(answer.headers["Location"]))
    page = dry_run(owner, b"sku,price\nMUG-BLUE,3\n")
    assert page.status_code == 422
    assert "row 1, product_slug: this column is missing" in text(page)


def test_the_orders_csv_has_the_filtered_orders_and_parses_back(owner, browser, db):
    tee = variant_with_stock(db, 10, price_cents=2000)
    buy(browser, tee, 2, email="buyer@example.com")
    order = db.scalar(select(OrderRow))
    day = order.created_at.date().isoformat()
    answer = owner.get(f"/admin/orders.csv?status=paid&from={day}&to={day}")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(text(answer))))
    assert len(rows) == 1
    row = rows[0]
    assert (row["number"], row["status"], row["total"], row["refunded"], row["lines"]) == (
        order.number,
        "paid",
        "40.00",
        "0.00",
        "1",
    )
    assert row["email"] == order.email and row["currency"] == "USD"
    assert row["placed_at_utc"].startswith(day) and row["paid_at_utc"]
    assert (
        len(list(csv.reader(io.StringIO(text(owner.get("/admin/orders.csv?status=shipped")))))) == 1
    )
    assert owner.get("/admin/orders.csv?from=2026-02-01&to=2026-01-01").status_code == 400
    assert owner.get("/admin/orders.csv?status=lost").status_code == 400


@pytest.mark.parametrize("url", ["/admin/bulk", "/admin/bulk/catalogue.csv", "/admin/orders.csv"])
def test_customers_and_visitors_get_404(app, db, url):
    assert app.test_client().get(url).status_code == 404
    assert signed_in(app, Role.CUSTOMER).get(url).status_code == 404
    staff = signed_in(app, Role.STAFF)
    assert staff.get(url).status_code == 200
    assert "/admin/bulk" in text(staff.get("/admin"))


def test_import_and_apply_without_csrf_are_refused(app, owner, mug, db):
    client = owner.client
    upload = {"file": (io.BytesIO(b"x"), "c.csv")}
    assert client.post("/admin/bulk/import", data=upload).status_code == 400
    assert client.post("/admin/bulk/apply", data={"token": "t" * 32}).status_code == 400
    customer = signed_in(app, Role.CUSTOMER)
    assert customer.post("/admin/bulk/apply", {"token": "t" * 32}).status_code == 404
    imports = select(func.count()).select_from(AuditLog).where(AuditLog.action.like("catalogue%"))
    assert db.scalar(imports) == 0


def test_stock_raised_by_an_import_fills_a_waiting_back_order(owner, browser, db):
    tee = variant_with_stock(db, 0, sku="TEE-WAIT", allow_backorder=True)
    buy(browser, tee, 2, email="waiting@example.com")
    order = db.scalar(select(OrderRow))
    assert order.status is OrderStatus.AWAITING_STOCK
    rows = export(owner)
    rows[0].update(on_hand="5")
    form = apply_form(text(dry_run(owner, to_file(rows))))
    owner.post("/admin/bulk/apply", form, content_type="multipart/form-data")
    db.expire_all()
    assert db.get(OrderRow, order.id).status is not OrderStatus.AWAITING_STOCK
    assert db.get(Variant, tee.id).on_hand == 3  # 5 arrived, 2 went to the waiting order


def test_a_file_too_large_to_apply_is_refused_at_upload(owner, mug, db):
    answer = dry_run(owner, b"product_slug\n" + b"x" * 720_000)
    assert answer.status_code == 303
    assert "over 700 KB" in text(owner.get(answer.headers["Location"]))


def test_a_file_of_many_rows_is_carried_to_apply_in_pieces(owner, mug, db):
    rows = export(owner)
    rows += [dict(rows[0], sku=f"MUG-{n:04d}", variant_name="x" * 60) for n in range(300)]
    form = apply_form(text(dry_run(owner, to_file(rows))))
    assert len(form["chunk"]) > 1
    owner.post("/admin/bulk/apply", form, content_type="multipart/form-data")
    assert db.scalar(select(func.count()).select_from(Variant)) == 301


def test_a_file_sets_weights_and_one_without_the_weight_column_still_imports(owner, mug, db):
    rows = export(owner)
    rows[0].update(weight_grams="420")
    page = dry_run(owner, to_file(rows))
    assert "<td>0</td><td>420</td>" in text(page)
    assert owner.post("/admin/bulk/apply", apply_form(text(page))).status_code == 303
    db.expire_all()
    assert db.get(Variant, mug.id).weight_grams == 420
    older = [{k: v for k, v in row.items() if k != "weight_grams"} for row in export(owner)]
    older[0].update(price="13.00")
    page = dry_run(owner, to_file(older))
    assert page.status_code == 200 and "weight_grams" not in text(page)
    assert owner.post("/admin/bulk/apply", apply_form(text(page))).status_code == 303
    db.expire_all()
    variant = db.get(Variant, mug.id)
    assert (variant.price_cents, variant.weight_grams) == (1300, 420)
    rows = export(owner)
    rows[0].update(weight_grams="-1")
    assert "row 2, weight_grams: enter a whole number" in text(dry_run(owner, to_file(rows)))
