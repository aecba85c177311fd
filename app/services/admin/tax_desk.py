"""The owner's tax rates (``/admin/taxes``): a percentage per country, or per region of one
(the region's rate replaces the country's there; rates do not stack).

The percentage is typed as a decimal with at most three places (``8.875``) and stored in
thousandths of a percent (8875). One rate per place (``one_rate_per_place``): a second rate for
a place is refused by name, and so is losing that race to another save (the constraint's
``IntegrityError`` becomes the same refusal, never a 500). Every change is one transaction with
an audit row; a refusal changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import begin_write
from app.models import TaxRate
from app.services import audit
from app.services.checkout import countries
from app.services.errors import DomainError, NotFound
from app.services.transactions import unit_of_work

CATEGORY = "standard"
PERCENT = re.compile(r"^([0-9]{1,3})(?:\.([0-9]{1,3}))?\s*%?$")


@dataclass(frozen=True)
class TaxInput:
    name: str
    country: str
    region: str
    percent_thousandths: int
    applies_to_shipping: bool


def parse_percent(text: str) -> int:
    """``8.875`` (or ``8.875 %``) as thousandths of a percent: 8875."""
    match = PERCENT.match((text or "").strip())
    if match is None:
        raise DomainError("Enter the rate as a percentage such as 7.25 (at most 3 decimals).")
    whole, fraction = match.group(1), (match.group(2) or "").ljust(3, "0")
    thousandths = int(whole) * 1000 + int(fraction)
    if thousandths > 100_000:
        raise DomainError("A tax rate is at most 100 %.")
    return thousandths


def percent_text(thousandths: int) -> str:
    """8875 → "8.875", 20000 → "20", 7250 → "7.25"."""
    whole, fraction = divmod(thousandths, 1000)
    return f"{whole}.{fraction:03d}".rstrip("0").rstrip(".")


def place_name(rate: TaxRate) -> str:
    country = countries.name_of(rate.country)
    return f"{country}, {rate.region}" if rate.region else country


def list_rates(session: Session) -> list[TaxRate]:
    return list(session.scalars(select(TaxRate).order_by(TaxRate.country, TaxRate.region)))


def get_rate(session: Session, rate_id: int) -> TaxRate:
    rate = session.get(TaxRate, rate_id)
    if rate is None:
        raise NotFound("There is no such tax rate.")
    return rate


def _check(session: Session, data: TaxInput, rate_id: int | None) -> TaxInput:
    country = countries.normalize(data.country)
    if not countries.is_country(country):
        raise DomainError("Choose the country the rate is for.")
    region = " ".join((data.region or "").split()).upper()
    name = " ".join((data.name or "").split())
    if len(region) > 80 or len(name) > 80:
        raise DomainError("A rate's name and region have at most 80 characters each.")
    if not 0 <= data.percent_thousandths <= 100_000:
        raise DomainError("A tax rate is a percentage from 0 to 100.")
    taken = session.scalar(
        select(TaxRate).where(
            TaxRate.country == country,
            TaxRate.region == region,
            TaxRate.category == CATEGORY,
            TaxRate.id != (rate_id or 0),
        )
    )
    if taken is not None:
        where = f"{country}-{region}" if region else country
        raise DomainError(
            f"There is already a tax rate for {where} ({percent_text(taken.percent_thousandths)} "
            "%); edit that one instead."
        )
    return TaxInput(name, country, region, data.percent_thousandths, data.applies_to_shipping)


def _values(rate: TaxRate) -> dict:
    return {
        "name": rate.name,
        "country": rate.country,
        "region": rate.region,
        "percent": percent_text(rate.percent_thousandths),
        "applies_to_shipping": rate.applies_to_shipping,
    }


def _apply(rate: TaxRate, data: TaxInput) -> None:
    rate.name, rate.country, rate.region = data.name, data.country, data.region
    rate.percent_thousandths = data.percent_thousandths
    rate.applies_to_shipping = data.applies_to_shipping


def _flush(session: Session, data: TaxInput, rate_id: int | None) -> None:
    try:
        session.flush()
    except IntegrityError:  # another save took the place between the check and here
        session.rollback()
        begin_write(session)
        _check(session, data, rate_id)
        raise DomainError("Another change to the tax rates came first; try again.") from None


@unit_of_work
def create_rate(session: Session, data: TaxInput, *, actor: str) -> TaxRate:
    begin_write(session)
    data = _check(session, data, None)
    rate = TaxRate(category=CATEGORY)
    _apply(rate, data)
    session.add(rate)
    _flush(session, data, None)
    audit.record(
        session,
        "tax.rate_created",
        actor=actor,
        subject_type="tax_rate",
        subject_id=rate.id,
        **_values(rate),
    )
    session.commit()
    return rate


@unit_of_work
def update_rate(session: Session, rate_id: int, data: TaxInput, *, actor: str) -> bool:
    begin_write(session)
    rate = get_rate(session, rate_id)
    data = _check(session, data, rate_id)
    before = _values(rate)
    _apply(rate, data)
    _flush(session, data, rate_id)
    return audit.commit_changes(
        session,
        "tax.rate_updated",
        before,
        _values(rate),
        actor=actor,
        subject_type="tax_rate",
        subject_id=rate_id,
    )


@unit_of_work
def delete_rate(session: Session, rate_id: int, *, actor: str) -> str:
    """Delete a rate; the place it was for. Checkouts priced with it are re-priced."""
    begin_write(session)
    rate = get_rate(session, rate_id)
    values, where = _values(rate), place_name(rate)
    session.delete(rate)
    audit.record(
        session,
        "tax.rate_deleted",
        actor=actor,
        subject_type="tax_rate",
        subject_id=rate_id,
        **values,
    )
    session.commit()
    return where
