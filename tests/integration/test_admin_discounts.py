"""The owner's discount codes, through the browser: codes listed with their uses and live holds,
created (percentage or fixed, whole order or chosen products, limits and dates), changed
(limit, end, active) and refused with a message (4xx, nothing changed) — above all a usage
limit lowered below the uses and live holds already claimed. Two owners creating one code at
once get one code and one clear refusal."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.models import AuditLog, DiscountCode, DiscountKind, DiscountScope
from app.services.discounts import codes, rules, uses
from tests.admin_helpers import text
from tests.discount_helpers import TTL, make_code, race_threads
from tests.factories import ProductFactory


def create(owner, **form):
    return owner.post(
        "/admin/discounts", {"code": "spring", "kind": "percent", "value": "10", **form}
    )


def count(db) -> int:
    return db.scalar(select(func.count()).select_from(DiscountCode))


def code(db, name: str = "SPRING") -> DiscountCode:
    db.expire_all()
    return db.scalar(select(DiscountCode).where(DiscountCode.code == name))


def test_staff_are_refused_discount_codes(staff, db):
    assert staff.get("/admin/discounts").status_code == 403
    assert create(staff).status_code == 403
    assert count(db) == 0


def test_the_owner_creates_a_percentage_code_with_its_terms(owner, db):
    form = {
        "value": "12.5",
        "min_spend": "40",
        "starts_at": "2026-01-01T00:00",
        "ends_at": "2026-03-31T23:59",
        "once_per_shopper": "y",
        "usage_limit": "100",
    }
    assert create(owner, **form).status_code == 303
    row = code(db)
    assert (row.kind, row.value, row.min_spend_cents, row.usage_limit) == (
        DiscountKind.PERCENT,
        1250,
        4000,
        100,
    )
    assert row.once_per_shopper and row.applies_to is DiscountScope.ORDER
    assert row.starts_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert row.ends_at == datetime(2026, 3, 31, 23, 59, tzinfo=UTC)
    listing = text(owner.get("/admin/discounts"))
    assert "SPRING" in listing and "12.5 %" in listing and "$40.00" in listing
    assert db.scalar(select(AuditLog.id).where(AuditLog.action == "discount.created"))


def test_the_owner_creates_a_fixed_code_for_chosen_products(owner, db):
    mug, tee = ProductFactory(name="Mug"), ProductFactory(name="Tee")
    ProductFactory(name="Cap")
    assert "Mug" in text(owner.get("/admin/discounts"))  # offered in the product list
    answer = owner.post(
        "/admin/discounts",
        {"code": "MUGS5", "kind": "fixed", "value": "5.00", "products": [mug.id, tee.id]},
    )
    assert answer.status_code == 303
    row = code(db, "MUGS5")
    assert (row.kind, row.value, row.currency) == (DiscountKind.FIXED, 500, "USD")
    assert row.applies_to is DiscountScope.PRODUCTS
    assert sorted(p.name for p in row.products) == ["Mug", "Tee"]
    assert "$5.00" in text(owner.get("/admin/discounts"))


@pytest.mark.parametrize(
    "form, message",
    [
        ({"value": "ten"}, "Enter the percentage off"),
        ({"value": "0"}, "must take something off"),
        ({"value": "150"}, "at most 100 %"),
        ({"kind": "fixed", "value": "5.001"}, "at most 2 decimal places"),
        ({"usage_limit": "0"}, "A usage limit is a whole number from 1"),
        ({"usage_limit": "many"}, "enter a whole number"),
        ({"min_spend": "-1"}, "Minimum spend"),
        ({"ends_at": "tomorrow"}, "enter a date and time"),
        (
            {"starts_at": "2026-05-01T00:00", "ends_at": "2026-04-01T00:00"},
            "must start before it ends",
        ),
        ({"products": ["999999"]}, "only name products that exist"),
        ({"code": ""}, "Enter the code shoppers type"),
    ],
)
def test_bad_codes_are_refused_and_nothing_is_made(owner, db, form, message):
    answer = create(owner, **form)
    assert answer.status_code == 422 and message in text(answer)
    assert count(db) == 0


def test_a_second_code_of_the_same_name_is_refused(owner, db):
    create(owner)
    answer = create(owner, code="Spring")
    assert answer.status_code == 422 and "There is already a discount code SPRING." in text(answer)
    assert count(db) == 1


def test_two_owners_creating_one_code_at_once_get_one_code_and_one_clear_refusal(app, db):
    def make(factory, n, barrier):
        session = factory()
        try:
            barrier.wait(timeout=60)
            codes.create_code(session, "RACE", value=1000, actor=f"owner{n}")
            return "created", ""
        except rules.DiscountError as refused:
            return "refused", refused.message
        finally:
            session.close()

    results = race_threads(app, make, 8)
    assert Counter(kind for kind, _ in results) == {"created": 1, "refused": 7}
    assert {m for kind, m in results if kind == "refused"} == {
        "There is already a discount code RACE."
    }
    assert count(db) == 1


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite: one writer
def test_a_code_made_between_the_check_and_the_insert_is_the_same_refusal(app, db, monkeypatch):
    real = codes._products

    def other_owner_saves_first(session, product_ids):
        db.add(DiscountCode(code="LATE", kind=DiscountKind.PERCENT, value=500, uses=0))
        db.commit()
        return real(session, product_ids)

    monkeypatch.setattr(codes, "_products", other_owner_saves_first)
    session = app.extensions["holdfast.db"].session_factory()
    with pytest.raises(rules.DiscountError, match="There is already a discount code LATE."):
        codes.create_code(session, "late", value=1000)
    session.close()
    assert count(db) == 1


def _hold(app, name: str, shopper: str, minutes: int = 15) -> int:
    session = app.extensions["holdfast.db"].session_factory()
    now = datetime.now(UTC)
    try:
        expires = now + timedelta(minutes=minutes)
        return uses.hold_use(session, name, None, shopper, expires, expires - TTL).hold_id
    finally:
        session.close()


def test_the_limit_cannot_go_below_uses_and_live_holds(app, owner, db):
    make_code(db, "FIRST10", usage_limit=10)
    committed = _hold(app, "FIRST10", "a@example.com")
    session = app.extensions["holdfast.db"].session_factory()
    uses.commit_use(session, committed)
    session.close()
    _hold(app, "FIRST10", "b@example.com")
    _hold(app, "FIRST10", "c@example.com")
    _hold(app, "FIRST10", "gone@example.com", minutes=-1)  # expired: claims nothing
    row = code(db, "FIRST10")
    page = text(owner.get(f"/admin/discounts/{row.id}"))
    assert 'data-figure="uses">1<' in page and 'data-figure="held">2<' in page
    listing = text(owner.get("/admin/discounts"))
    assert 'data-figure="held">2<' in listing

    refused = owner.post(f"/admin/discounts/{row.id}", {"usage_limit": "2"})
    assert refused.status_code == 422
    assert "1 use(s) and 2 live hold(s)" in text(refused) and "below 3" in text(refused)
    assert code(db, "FIRST10").usage_limit == 10

    assert owner.post(f"/admin/discounts/{row.id}", {"usage_limit": "3"}).status_code == 303
    assert code(db, "FIRST10").usage_limit == 3
    entry = db.scalar(select(AuditLog).where(AuditLog.action == "discount.updated"))
    assert entry.details["usage_limit"] == [10, 3]


def test_the_owner_makes_a_code_unlimited_sets_its_end_and_deactivates_it(owner, db):
    create(owner, usage_limit="5")
    row = code(db)
    answer = owner.post(
        f"/admin/discounts/{row.id}", {"usage_limit": "", "ends_at": "2030-01-01T00:00"}
    )
    assert answer.status_code == 303
    row = code(db)
    assert row.usage_limit is None and row.ends_at == datetime(2030, 1, 1, tzinfo=UTC)
    same = owner.post(
        f"/admin/discounts/{row.id}", {"usage_limit": "", "ends_at": "2030-01-01T00:00"}
    )
    assert "Nothing changed." in text(owner.get(same.headers["Location"]))
    assert owner.post(f"/admin/discounts/{row.id}/deactivate").status_code == 303
    assert code(db).active is False
    assert "inactive" in text(owner.get("/admin/discounts"))
    owner.post(f"/admin/discounts/{row.id}/activate")
    assert code(db).active is True
    assert owner.post("/admin/discounts/999999", {"usage_limit": "3"}).status_code == 404
