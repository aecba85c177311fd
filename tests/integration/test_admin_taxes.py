"""The owner's tax rates page, through the browser: rates created, edited and deleted; a
second rate for a place, a bad percentage or country refused with a message (4xx) and nothing
changed; the shop's tax mode shown, and switched on the settings page."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import AuditLog, ShopSetting, TaxRate
from app.services.admin.tax_desk import parse_percent, percent_text
from tests.admin_helpers import text


def add(owner, **form):
    data = {"country": "US", "region": "", "percent": "7.25", "name": "Sales tax", **form}
    return owner.post("/admin/taxes", data)


def count(db) -> int:
    return db.scalar(select(func.count()).select_from(TaxRate))


def test_staff_are_refused_the_tax_page(staff, db):
    assert staff.get("/admin/taxes").status_code == 403
    assert add(staff).status_code == 403
    assert count(db) == 0


def test_the_owner_adds_a_country_and_a_region_rate(owner, db):
    page = text(owner.get("/admin/taxes"))
    assert "tax is added on top of prices" in page and 'href="/admin/settings#prices"' in page
    assert add(owner).status_code == 303
    answer = add(owner, region="ny", percent="8.875", name="NY sales tax", applies_to_shipping="y")
    assert answer.status_code == 303
    rows = {
        (r.region, r.percent_thousandths, r.applies_to_shipping)
        for r in db.scalars(select(TaxRate))
    }
    assert rows == {("", 7250, False), ("NY", 8875, True)}
    listing = text(owner.get("/admin/taxes"))
    assert "8.875 %" in listing and "7.25 %" in listing and "US-NY" in listing
    assert db.scalar(select(func.count()).where(AuditLog.action == "tax.rate_created")) == 2


def test_a_second_rate_for_a_place_is_refused_by_name(owner, db):
    add(owner)
    answer = add(owner, percent="6")
    assert answer.status_code == 422
    assert "There is already a tax rate for US (7.25 %)" in text(answer)
    assert count(db) == 1


@pytest.mark.parametrize(
    "form, message",
    [
        ({"percent": "lots"}, "Enter the rate as a percentage"),
        ({"percent": "-5"}, "Enter the rate as a percentage"),
        ({"percent": "7.2501"}, "Enter the rate as a percentage"),
        ({"percent": "101"}, "at most 100 %"),
        ({"percent": ""}, "Enter the rate, such as 7.25"),
        ({"country": "XX"}, "Not a valid choice"),
    ],
)
def test_bad_rates_are_refused_and_nothing_is_added(owner, db, form, message):
    answer = add(owner, **form)
    assert answer.status_code == 422 and message in text(answer)
    assert count(db) == 0


def test_the_owner_edits_and_deletes_a_rate(owner, db):
    add(owner)
    rid = db.scalar(select(TaxRate.id))
    page = text(owner.get(f"/admin/taxes/{rid}"))
    assert 'value="7.25"' in page
    bad = owner.post(f"/admin/taxes/{rid}", {"country": "US", "percent": "x"})
    assert bad.status_code == 422
    good = {"country": "US", "percent": "6.5", "name": "State tax", "applies_to_shipping": "y"}
    assert owner.post(f"/admin/taxes/{rid}", good).status_code == 303
    db.expire_all()
    rate = db.get(TaxRate, rid)
    assert (rate.percent_thousandths, rate.name, rate.applies_to_shipping) == (
        6500,
        "State tax",
        True,
    )
    assert owner.post(f"/admin/taxes/{rid}/delete").status_code == 303
    assert count(db) == 0
    assert owner.get(f"/admin/taxes/{rid}").status_code == 404


def test_the_settings_page_shows_and_saves_the_tax_mode(owner, db):
    page = text(owner.get("/admin/settings"))
    assert 'name="prices_include_tax"' in page and "Prices and tax" in page
    owner.post("/admin/settings", {"prices_include_tax": "on"})
    assert db.get(ShopSetting, "prices_include_tax").value is True
    assert "prices include tax" in text(owner.get("/admin/taxes"))


@pytest.mark.parametrize(
    "typed, stored", [("7.25", 7250), ("8.875", 8875), ("20", 20000), ("0", 0), ("5 %", 5000)]
)
def test_percentages_are_read_as_thousandths_and_shown_back(typed, stored):
    assert parse_percent(typed) == stored
    assert parse_percent(percent_text(stored)) == stored
