"""The owner's shipping page, through the browser: zones with their places and rates, created,
edited and deleted; a place in another zone, a second rest-of-the-world zone and bad prices or
bands refused with a message (4xx) and nothing changed. Staff are refused it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.models import AuditLog, RateKind, ShippingPlace, ShippingRate, ShippingZone
from app.services.admin import shipping_desk
from app.services.errors import DomainError
from tests.admin_helpers import text


def zone(owner, name="Domestic", places="US", **more):
    return owner.post("/admin/shipping/zones", {"name": name, "places": places, **more})


def zone_id(db, name="Domestic") -> int:
    return db.scalar(select(ShippingZone.id).where(ShippingZone.name == name))


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def test_staff_are_refused_shipping_and_see_no_link(staff, db):
    assert staff.get("/admin/shipping").status_code == 403
    assert zone(staff).status_code == 403
    assert 'href="/admin/shipping"' not in text(staff.get("/admin"))
    assert count(db, ShippingZone) == 0


def test_the_owner_creates_a_zone_with_places_and_sees_it_listed(owner, db):
    page = text(owner.get("/admin/shipping"))
    assert 'href="/admin/shipping"' in page and "US-CA" in page  # the format is explained
    answer = zone(owner, "North America", "US\nca-on, CA-QC\n\nUS")
    assert answer.status_code == 303
    places = db.execute(select(ShippingPlace.country, ShippingPlace.region)).all()
    assert sorted(places) == [("CA", "ON"), ("CA", "QC"), ("US", "")]
    listing = text(owner.get("/admin/shipping"))
    assert "North America" in listing and "CA-ON" in listing
    assert db.scalar(select(AuditLog.action).where(AuditLog.action == "shipping.zone_created"))


@pytest.mark.parametrize(
    "places, message",
    [
        ("USA", "is not a place"),
        ("XX", "is not a place"),
        ("", "Name at least one place"),
    ],
)
def test_a_bad_place_is_refused_and_nothing_is_made(owner, db, places, message):
    answer = zone(owner, "Somewhere", places)
    assert answer.status_code == 422 and message in text(answer)
    assert count(db, ShippingZone) == 0


def test_a_place_in_another_zone_is_refused_by_name(owner, db):
    zone(owner, "Domestic", "US")
    answer = zone(owner, "West", "US-CA\nUS")
    assert answer.status_code == 422
    assert "US is already in the zone Domestic" in text(answer)
    assert count(db, ShippingZone) == 1 and count(db, ShippingPlace) == 1


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite: one writer
def test_losing_the_race_for_a_place_is_a_clear_refusal_not_a_500(app, db, monkeypatch):
    """The check passes, then another owner's save takes the place before the flush: the
    constraint's IntegrityError becomes the same sentence."""
    real_check = shipping_desk._refuse_taken_places

    def other_owner_saves_first(session, places, zone_id):
        real_check(session, places, zone_id)
        monkeypatch.setattr(shipping_desk, "_refuse_taken_places", real_check)
        db.add(ShippingZone(name="Quick", places=[ShippingPlace(country="US", region="")]))
        db.commit()

    monkeypatch.setattr(shipping_desk, "_refuse_taken_places", other_owner_saves_first)
    session = app.extensions["holdfast.db"].session_factory()
    data = shipping_desk.ZoneInput("Late", (("US", ""),), False)
    with pytest.raises(DomainError, match="US is already in the zone Quick"):
        shipping_desk.create_zone(session, data, actor="t")
    session.close()
    assert db.scalar(select(ShippingZone.name).where(ShippingZone.name == "Late")) is None


def test_only_one_zone_is_the_rest_of_the_world(owner, db):
    assert zone(owner, "World", "", rest_of_world="y").status_code == 303
    answer = zone(owner, "Elsewhere", "", rest_of_world="y")
    assert answer.status_code == 422 and "World is already the rest-of-the-world zone" in text(
        answer
    )
    assert count(db, ShippingZone) == 1


def test_the_owner_edits_and_deletes_a_zone(owner, db):
    zone(owner, "Domestic", "US")
    zid = zone_id(db)
    page = text(owner.get(f"/admin/shipping/zones/{zid}"))
    assert "Domestic" in page and re.search(r'name="places"[^>]*>\s*US</textarea>', page)
    answer = owner.post(f"/admin/shipping/zones/{zid}", {"name": "Home", "places": "US\nUS-HI"})
    assert answer.status_code == 303
    assert sorted(db.scalars(select(ShippingPlace.region))) == ["", "HI"]
    assert db.scalar(select(ShippingZone.name)) == "Home"
    same = owner.post(f"/admin/shipping/zones/{zid}", {"name": "Home", "places": "US-HI\nUS"})
    assert "Nothing changed." in text(owner.get(same.headers["Location"]))
    owner.post(f"/admin/shipping/zones/{zid}/rates", {"name": "Std", "kind": "flat", "price": "5"})
    assert owner.post(f"/admin/shipping/zones/{zid}/delete").status_code == 303
    assert count(db, ShippingZone) == count(db, ShippingPlace) == count(db, ShippingRate) == 0
    assert owner.get(f"/admin/shipping/zones/{zid}").status_code == 404


def test_the_owner_adds_a_flat_rate_free_above_an_amount(owner, db):
    zone(owner)
    zid = zone_id(db)
    answer = owner.post(
        f"/admin/shipping/zones/{zid}/rates",
        {"name": "Standard", "kind": "flat", "price": "4.50", "free_above": "75"},
    )
    assert answer.status_code == 303
    rate = db.scalar(select(ShippingRate))
    assert (rate.kind, rate.price_cents, rate.free_above_cents, rate.currency) == (
        RateKind.FLAT,
        450,
        7500,
        "USD",
    )
    page = text(owner.get("/admin/shipping"))
    assert "$4.50 per order, free from $75.00" in page


def test_the_owner_adds_a_weight_band_rate(owner, db):
    zone(owner)
    zid = zone_id(db)
    bands = "500 g: 4.00\n2 kg: 9.50\nup to 10000 g: 20"
    answer = owner.post(
        f"/admin/shipping/zones/{zid}/rates", {"name": "Express", "kind": "weight", "bands": bands}
    )
    assert answer.status_code == 303
    rate = db.scalar(select(ShippingRate))
    assert rate.kind is RateKind.WEIGHT
    assert rate.bands == [[500, 400], [2000, 950], [10000, 2000]]
    edit = text(owner.get(f"/admin/shipping/rates/{rate.id}"))
    assert "500 g: 4.00" in edit and "2000 g: 9.50" in edit


@pytest.mark.parametrize(
    "form, message",
    [
        ({"kind": "flat", "price": ""}, "Enter the flat price"),
        ({"kind": "flat", "price": "-3"}, "Flat price: Enter an amount"),
        ({"kind": "flat", "price": "4.999"}, "at most 2 decimal places"),
        ({"kind": "flat", "price": "4", "free_above": "lots"}, "Free from"),
        ({"kind": "weight", "bands": ""}, "needs at least one band"),
        ({"kind": "weight", "bands": "2000 g: 9\n500 g: 4"}, "must go up in weight"),
        ({"kind": "weight", "bands": "heavy: 9"}, "is not a band"),
        ({"kind": "weight", "bands": "0 g: 9"}, "whole number of grams"),
        ({"kind": "weight", "bands": "500 g: free"}, "Enter an amount"),
        ({"kind": "sideways", "price": "4"}, "Not a valid choice"),
        ({"name": "", "kind": "flat", "price": "4"}, "Give the rate a name"),
    ],
)
def test_bad_rates_are_refused_with_a_message_and_nothing_is_added(owner, db, form, message):
    zone(owner)
    zid = zone_id(db)
    answer = owner.post(f"/admin/shipping/zones/{zid}/rates", {"name": "Rate", **form})
    assert answer.status_code == 422 and message in text(answer)
    assert count(db, ShippingRate) == 0


def test_the_owner_edits_deactivates_and_deletes_a_rate(owner, db):
    zone(owner)
    zid = zone_id(db)
    owner.post(f"/admin/shipping/zones/{zid}/rates", {"name": "Std", "kind": "flat", "price": "5"})
    rid = db.scalar(select(ShippingRate.id))
    bad = owner.post(f"/admin/shipping/rates/{rid}", {"name": "Std", "kind": "flat", "price": "x"})
    assert bad.status_code == 422
    good = {"name": "Standard", "kind": "flat", "price": "6.00"}
    assert owner.post(f"/admin/shipping/rates/{rid}", good).status_code == 303
    db.expire_all()
    assert db.scalar(select(ShippingRate.price_cents)) == 600
    assert owner.post(f"/admin/shipping/rates/{rid}/deactivate").status_code == 303
    assert db.scalar(select(ShippingRate.active)) is False
    assert "inactive" in text(owner.get(f"/admin/shipping/zones/{zid}"))
    owner.post(f"/admin/shipping/rates/{rid}/activate")
    assert db.scalar(select(ShippingRate.active)) is True
    assert owner.post(f"/admin/shipping/rates/{rid}/delete").status_code == 303
    assert count(db, ShippingRate) == 0
    actions = set(db.scalars(select(AuditLog.action).where(AuditLog.action.like("shipping.%"))))
    assert {"shipping.rate_created", "shipping.rate_updated", "shipping.rate_deleted"} <= actions
    assert owner.post(f"/admin/shipping/rates/{rid}", good).status_code == 404


def test_the_database_keeps_one_rest_of_the_world_zone_whatever_the_service_checks(db):
    """Two owners saving at once pass the service's check together; the index refuses one."""
    from sqlalchemy.exc import IntegrityError

    db.add(ShippingZone(name="World", rest_of_world=True))
    db.commit()
    db.add(ShippingZone(name="Also the world", rest_of_world=True))
    with pytest.raises(IntegrityError):
        db.commit()
    db.rollback()
    db.add_all([ShippingZone(name="Europe"), ShippingZone(name="Asia")])  # any number of others
    db.commit()
    assert db.scalar(select(func.count()).select_from(ShippingZone)) == 3
