"""The forms of the admin's shipping, tax and discount-code pages (Flask-WTF: each carries a
CSRF token). Money and percentages arrive as text; the services read them
(``services.admin.shipping_desk``, ``tax_desk``, ``discount_desk``)."""

from __future__ import annotations

from datetime import UTC

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.models import DiscountKind, RateKind
from app.services.checkout import countries

from .catalogue_forms import WholeNumberField

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


def utc_moment(label: str) -> DateTimeLocalField:
    return DateTimeLocalField(
        label,
        format=DATETIME_FORMATS,
        tz=UTC,
        validators=[Optional()],
        invalid_value_message=f"{label}: enter a date and time such as 2026-12-31T23:59.",
    )


class ZoneForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the zone a name."), Length(max=80)])
    places = TextAreaField("Places, one per line", validators=[Length(max=10_000)])
    rest_of_world = BooleanField("Rest of the world (every place no other zone names)")


class RateForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the rate a name."), Length(max=80)])
    kind = SelectField(
        "Priced",
        choices=[
            SelectChoice(RateKind.FLAT.value, "Flat: one price per order"),
            SelectChoice(RateKind.WEIGHT.value, "By weight band"),
        ],
        default=RateKind.FLAT.value,
    )
    price = StringField("Flat price", id="rate-price", validators=[Length(max=20)])
    bands = TextAreaField(
        "Weight bands, one per line", id="rate-bands", validators=[Length(max=2_000)]
    )
    free_above = StringField(
        "Free from an order of (optional)", id="rate-free_above", validators=[Length(max=20)]
    )


class TaxForm(FlaskForm):
    name = StringField("Name shown to shoppers", validators=[Length(max=80)])
    country = SelectField(
        "Country", choices=[SelectChoice(c, n) for c, n in countries.choices()], default="US"
    )
    region = StringField("Region (optional)", validators=[Length(max=80)])
    percent = StringField(
        "Rate (%)", validators=[DataRequired("Enter the rate, such as 7.25."), Length(max=12)]
    )
    applies_to_shipping = BooleanField("Shipping to this place is taxed too")


def usage_limit_field() -> WholeNumberField:
    return WholeNumberField(
        "Usage limit (empty: unlimited)",
        validators=[
            Optional(),
            NumberRange(1, 10_000_000, "A usage limit is a whole number from 1."),
        ],
    )


class DiscountForm(FlaskForm):
    code = StringField(
        "Code", validators=[DataRequired("Enter the code shoppers type."), Length(max=40)]
    )
    kind = SelectField(
        "Kind",
        choices=[
            SelectChoice(DiscountKind.PERCENT.value, "Percentage off"),
            SelectChoice(DiscountKind.FIXED.value, "Fixed amount off"),
        ],
        default=DiscountKind.PERCENT.value,
    )
    value = StringField(
        "Value (10 for 10 %, or an amount)",
        validators=[DataRequired("Enter how much it takes off."), Length(max=20)],
    )
    products = SelectMultipleField(
        "Only these products (none chosen: the whole order)", coerce=int, validate_choice=False
    )
    min_spend = StringField("Minimum spend (optional)", validators=[Length(max=20)])
    starts_at = utc_moment("Starts (UTC, optional)")
    ends_at = utc_moment("Ends (UTC, optional)")
    once_per_shopper = BooleanField("Once per shopper")
    usage_limit = usage_limit_field()


class DiscountEditForm(FlaskForm):
    usage_limit = usage_limit_field()
    ends_at = utc_moment("Ends (UTC, optional)")
