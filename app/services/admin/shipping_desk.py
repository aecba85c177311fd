"""The owner's shipping zones and rates (``/admin/shipping``).

A zone is a name, its places and whether it is the shop's "rest of the world". Places are typed
one per line (or comma-separated): a country's ISO code for the whole country (``US``), or the
code, a dash and a region as shoppers enter it in the checkout's "State / region" field
(``US-CA``). A place belongs to at most one zone (``one_zone_per_place``): naming a place that
another zone has is refused with the other zone's name, and so is losing that race to another
owner's save (the unique constraint's ``IntegrityError`` becomes the same refusal, never a 500).
At most one zone is the rest of the world.

A rate is flat (one price per order) or by weight band (typed ``500 g: 4.00``, one band per
line, ascending; ``kg`` works too), optionally free from an order total. Prices arrive as the
owner's decimals and are stored in cents of the shop's currency. Every change is one
transaction with an audit row; a refusal changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app.db import begin_write
from app.models import RateKind, ShippingPlace, ShippingRate, ShippingZone
from app.money import parse_money, plain_decimal
from app.services import audit
from app.services.checkout import countries
from app.services.errors import DomainError, NotFound
from app.services.transactions import unit_of_work

MAX_PLACES = 300
MAX_BANDS = 30
MAX_GRAMS = 1_000_000  # a tonne
MAX_PRICE_CENTS = 100_000_000
PLACE = re.compile(r"^([A-Z]{2})(?:-(\S(?:.{0,78}\S)?))?$")
BAND = re.compile(r"^(?:up\s+to\s+)?([0-9]+(?:\.[0-9]+)?)\s*(g|kg)?\s*[:=]\s*(\S.*)$", re.I)

Place = tuple[str, str]


@dataclass(frozen=True)
class ZoneInput:
    name: str
    places: tuple[Place, ...]
    rest_of_world: bool


@dataclass(frozen=True)
class RateInput:
    name: str
    kind: RateKind
    price_cents: int
    bands: tuple[tuple[int, int], ...]
    free_above_cents: int | None


# ---------------------------------------------------------------- reading what the owner typed


def place_text(country: str, region: str) -> str:
    return f"{country}-{region}" if region else country


def parse_places(text: str) -> tuple[Place, ...]:
    """``US``, ``US-CA`` ... one a line or comma-separated, as (country, region) pairs."""
    places: dict[Place, None] = {}
    for raw in re.split(r"[\n,;]", text or ""):
        entry = " ".join(raw.split()).upper()
        if not entry:
            continue
        match = PLACE.match(entry)
        if match is None or not countries.is_country(match.group(1)):
            raise DomainError(
                f"“{entry[:40]}” is not a place: enter a country code such as US, or a country "
                "code, a dash and a region such as US-CA."
            )
        places[(match.group(1), match.group(2) or "")] = None
    if len(places) > MAX_PLACES:
        raise DomainError(f"A zone names at most {MAX_PLACES} places.")
    return tuple(places)


def _grams(number: str, unit: str | None) -> int:
    grams = Decimal(number) * (1000 if (unit or "g").lower() == "kg" else 1)
    if grams != grams.to_integral_value() or not 0 < grams <= MAX_GRAMS:
        raise DomainError(f"A band's weight is a whole number of grams from 1 to {MAX_GRAMS}.")
    return int(grams)


def parse_bands(text: str, currency: str) -> tuple[tuple[int, int], ...]:
    """``500 g: 4.00`` lines (up to and including 500 g, the price is 4.00), ascending weight."""
    bands: list[tuple[int, int]] = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        match = BAND.match(line.strip())
        if match is None:
            raise DomainError(f"“{line.strip()[:40]}” is not a band: write it as 500 g: 4.00.")
        try:
            grams = _grams(match.group(1), match.group(2))
            cents = parse_money(match.group(3), currency)
        except (ValueError, InvalidOperation) as exc:
            raise DomainError(f"“{line.strip()[:40]}”: {exc}") from None
        if bands and grams <= bands[-1][0]:
            raise DomainError("Weight bands must go up in weight, each weight once.")
        bands.append((grams, cents))
    if not bands:
        raise DomainError("A weight-band rate needs at least one band, such as 500 g: 4.00.")
    if len(bands) > MAX_BANDS:
        raise DomainError(f"A rate has at most {MAX_BANDS} weight bands.")
    return tuple(bands)


def bands_text(bands, currency: str) -> str:
    return "\n".join(f"{int(up)} g: {plain_decimal(int(price), currency)}" for up, price in bands)


def places_text(zone: ShippingZone) -> str:
    return "\n".join(place_text(p.country, p.region) for p in zone.places)


# ---------------------------------------------------------------- zones


def list_zones(session: Session) -> list[ShippingZone]:
    return list(
        session.scalars(
            select(ShippingZone)
            .options(selectinload(ShippingZone.places), selectinload(ShippingZone.rates))
            .order_by(ShippingZone.rest_of_world, ShippingZone.position, ShippingZone.name)
        )
    )


def get_zone(session: Session, zone_id: int) -> ShippingZone:
    zone = session.get(ShippingZone, zone_id)
    if zone is None:
        raise NotFound("There is no such shipping zone.")
    return zone


def _check_zone(session: Session, data: ZoneInput, zone_id: int | None) -> ZoneInput:
    name = " ".join((data.name or "").split())
    if not 1 <= len(name) <= 80:
        raise DomainError("Give the zone a name of at most 80 characters.")
    if not data.places and not data.rest_of_world:
        raise DomainError("Name at least one place, or make it the rest-of-the-world zone.")
    others = select(ShippingZone).where(ShippingZone.id != (zone_id or 0))
    if session.scalar(others.where(ShippingZone.name == name)) is not None:
        raise DomainError(f"There is already a zone named {name}.")
    if data.rest_of_world and (taken := session.scalar(others.where(ShippingZone.rest_of_world))):
        raise DomainError(f"{taken.name} is already the rest-of-the-world zone.")
    _refuse_taken_places(session, data.places, zone_id)
    return ZoneInput(name, data.places, data.rest_of_world)


def _refuse_taken_places(session: Session, places: tuple[Place, ...], zone_id: int | None):
    if not places:
        return
    taken = session.execute(
        select(ShippingPlace.country, ShippingPlace.region, ShippingZone.name)
        .join(ShippingZone)
        .where(
            tuple_(ShippingPlace.country, ShippingPlace.region).in_(places),
            ShippingPlace.zone_id != (zone_id or 0),
        )
        .order_by(ShippingPlace.country, ShippingPlace.region)
    ).first()
    if taken is not None:
        raise DomainError(
            f"{place_text(taken.country, taken.region)} is already in the zone {taken.name}; "
            "take it out of that zone first."
        )


def _flush_zone(session: Session, data: ZoneInput, zone_id: int | None) -> None:
    """Flush; a place or name another save took meanwhile is refused by name, not a 500."""
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        begin_write(session)
        _check_zone(session, data, zone_id)
        raise DomainError("Another change to the zones came first; reload and try again.") from None


def _set_places(zone: ShippingZone, places: tuple[Place, ...]) -> None:
    """Keep the places still named, drop the rest, add the new (never delete and re-insert one
    place, which the unique constraint could see twice)."""
    wanted = set(places)
    zone.places = [p for p in zone.places if (p.country, p.region) in wanted]
    have = {(p.country, p.region) for p in zone.places}
    zone.places.extend(ShippingPlace(country=c, region=r) for c, r in places if (c, r) not in have)


@unit_of_work
def create_zone(session: Session, data: ZoneInput, *, actor: str) -> ShippingZone:
    begin_write(session)
    data = _check_zone(session, data, None)
    zone = ShippingZone(name=data.name, rest_of_world=data.rest_of_world)
    _set_places(zone, data.places)
    session.add(zone)
    _flush_zone(session, data, None)
    audit.record(
        session,
        "shipping.zone_created",
        actor=actor,
        subject_type="shipping_zone",
        subject_id=zone.id,
        name=zone.name,
        places=[place_text(*p) for p in data.places],
        rest_of_world=zone.rest_of_world,
    )
    session.commit()
    return zone


def _zone_values(zone: ShippingZone) -> dict:
    return {
        "name": zone.name,
        "places": sorted(place_text(p.country, p.region) for p in zone.places),
        "rest_of_world": zone.rest_of_world,
    }


@unit_of_work
def update_zone(session: Session, zone_id: int, data: ZoneInput, *, actor: str) -> bool:
    """Save a zone's name, places and rest-of-the-world flag; whether anything changed."""
    begin_write(session)
    zone = get_zone(session, zone_id)
    data = _check_zone(session, data, zone_id)
    before = _zone_values(zone)
    zone.name, zone.rest_of_world = data.name, data.rest_of_world
    _set_places(zone, data.places)
    _flush_zone(session, data, zone_id)
    return audit.commit_changes(
        session,
        "shipping.zone_updated",
        before,
        _zone_values(zone),
        actor=actor,
        subject_type="shipping_zone",
        subject_id=zone_id,
    )


@unit_of_work
def delete_zone(session: Session, zone_id: int, *, actor: str) -> str:
    """Delete a zone with its places and rates; its name. A checkout that had chosen one of its
    rates is re-priced with what ships there now (the shopper confirms the change)."""
    begin_write(session)
    zone = get_zone(session, zone_id)
    name, values = zone.name, _zone_values(zone)
    session.delete(zone)
    audit.record(
        session,
        "shipping.zone_deleted",
        actor=actor,
        subject_type="shipping_zone",
        subject_id=zone_id,
        **values,
    )
    session.commit()
    return name


# ---------------------------------------------------------------- rates


def get_rate(session: Session, rate_id: int) -> ShippingRate:
    rate = session.get(ShippingRate, rate_id)
    if rate is None:
        raise NotFound("There is no such shipping rate.")
    return rate


def check_rate(data: RateInput) -> RateInput:
    name = " ".join((data.name or "").split())
    if not 1 <= len(name) <= 80:
        raise DomainError("Give the rate a name of at most 80 characters, such as Standard.")
    prices = [data.price_cents, *(price for _, price in data.bands)]
    if data.free_above_cents is not None:
        prices.append(data.free_above_cents)
    if any(not 0 <= p <= MAX_PRICE_CENTS for p in prices):
        raise DomainError("Enter prices from 0 to 1,000,000.")
    if data.kind is RateKind.WEIGHT and not data.bands:
        raise DomainError("A weight-band rate needs at least one band, such as 500 g: 4.00.")
    bands = data.bands if data.kind is RateKind.WEIGHT else ()
    price = data.price_cents if data.kind is RateKind.FLAT else 0
    return RateInput(name, data.kind, price, bands, data.free_above_cents)


def _rate_values(rate: ShippingRate) -> dict:
    return {
        "name": rate.name,
        "kind": RateKind(rate.kind).value,
        "price_cents": rate.price_cents,
        "bands": [[int(up), int(price)] for up, price in rate.bands or []],
        "free_above_cents": rate.free_above_cents,
        "active": rate.active,
    }


def _apply_rate(rate: ShippingRate, data: RateInput) -> None:
    rate.name, rate.kind, rate.price_cents = data.name, data.kind, data.price_cents
    rate.bands = [[up, price] for up, price in data.bands]
    rate.free_above_cents = data.free_above_cents


@unit_of_work
def create_rate(
    session: Session, zone_id: int, data: RateInput, *, currency: str, actor: str
) -> ShippingRate:
    data = check_rate(data)
    begin_write(session)
    zone = get_zone(session, zone_id)
    rate = ShippingRate(zone_id=zone.id, currency=currency.upper(), position=len(zone.rates))
    _apply_rate(rate, data)
    session.add(rate)
    session.flush()
    audit.record(
        session,
        "shipping.rate_created",
        actor=actor,
        subject_type="shipping_rate",
        subject_id=rate.id,
        zone=zone.name,
        **_rate_values(rate),
    )
    session.commit()
    return rate


def _save_rate(session: Session, rate: ShippingRate, before: dict, actor: str) -> bool:
    return audit.commit_changes(
        session,
        "shipping.rate_updated",
        before,
        _rate_values(rate),
        actor=actor,
        subject_type="shipping_rate",
        subject_id=rate.id,
        rate=rate.name,
    )


@unit_of_work
def update_rate(session: Session, rate_id: int, data: RateInput, *, actor: str) -> bool:
    data = check_rate(data)
    begin_write(session)
    rate = get_rate(session, rate_id)
    before = _rate_values(rate)
    _apply_rate(rate, data)
    return _save_rate(session, rate, before, actor)


@unit_of_work
def set_rate_active(session: Session, rate_id: int, active: bool, *, actor: str) -> bool:
    """Offer the rate at checkout again, or stop offering it (kept for its history)."""
    begin_write(session)
    rate = get_rate(session, rate_id)
    before = _rate_values(rate)
    rate.active = active
    return _save_rate(session, rate, before, actor)


@unit_of_work
def delete_rate(session: Session, rate_id: int, *, actor: str) -> int:
    """Delete a rate; its zone's id. A checkout that had chosen it is re-priced with the
    cheapest rate left (the shopper confirms the change); deactivating keeps its history."""
    begin_write(session)
    rate = get_rate(session, rate_id)
    values, zone_id = _rate_values(rate), rate.zone_id
    session.delete(rate)
    audit.record(
        session,
        "shipping.rate_deleted",
        actor=actor,
        subject_type="shipping_rate",
        subject_id=rate_id,
        zone_id=zone_id,
        **values,
    )
    session.commit()
    return zone_id
