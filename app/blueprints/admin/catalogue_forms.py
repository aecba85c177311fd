"""The catalogue's forms (Flask-WTF: each carries a CSRF token). A ``key`` is drawn when a
create form is shown, so a double click (two posts of one form) creates once."""

from __future__ import annotations

import secrets

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.forms import an_id
from app.models import MovementReason, ProductKind
from app.services.stock.inventory import ADJUSTABLE

MAX_ADJUST = 100_000


def new_key() -> str:
    return secrets.token_hex(16)


class Keyed(FlaskForm):
    key = HiddenField(validators=[DataRequired("Reload the page and try again."), Length(16, 64)])


class WholeNumberField(IntegerField):
    """An integer field whose refusal of "many" or "1.5" says what to type."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(f"{self.label.text}: enter a whole number.") from None


class CategoryField(SelectField):
    """A category chosen by id; anything that is not one is "Choose a category"."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError("Choose a category.") from None


class ProductForm(Keyed):
    name = StringField(
        "Name", validators=[DataRequired("Give the product a name."), Length(max=160)]
    )
    description = TextAreaField("Description", validators=[Length(max=10_000)])
    category_id = CategoryField(
        "Category", coerce=int, validate_choice=False, validators=[an_id("Choose a category.")]
    )
    kind = SelectField(
        "Kind",
        choices=[
            SelectChoice(ProductKind.PHYSICAL.value, "Physical (shipped)"),
            SelectChoice(ProductKind.DIGITAL.value, "Digital (license keys)"),
        ],
        validators=[DataRequired()],
    )
    featured = BooleanField("Featured on the home page")


class CategoryForm(FlaskForm):
    name = StringField(
        "Name", validators=[DataRequired("Give the category a name."), Length(max=120)]
    )


class VariantForm(Keyed):
    sku = StringField(
        "SKU", id="variant-sku", validators=[DataRequired("Enter a SKU."), Length(max=64)]
    )
    name = StringField("Name", id="variant-name", validators=[Length(max=120)])
    size = StringField("Size", id="variant-size", validators=[Length(max=40)])
    colour = StringField("Colour", id="variant-colour", validators=[Length(max=40)])
    price = StringField(
        "Price", id="variant-price", validators=[DataRequired("Enter the price."), Length(max=20)]
    )
    allow_backorder = BooleanField("Sell beyond stock (back-orders)", id="variant-allow_backorder")
    low_stock_threshold = WholeNumberField(
        "Low-stock threshold",
        id="variant-low_stock_threshold",
        default=5,
        validators=[
            InputRequired("Enter the low-stock threshold."),
            NumberRange(0, 100_000, "The low-stock threshold is a number from 0 to 100000."),
        ],
    )
    weight_grams = WholeNumberField(
        "Weight (grams)",
        id="variant-weight_grams",
        default=0,
        validators=[
            Optional(),
            NumberRange(0, 1_000_000, "The weight is a whole number of grams from 0 to 1000000."),
        ],
    )


class ImageForm(Keyed):
    image = FileField("Photo (JPEG, PNG, WebP or GIF, at most 5 MB)")
    alt = StringField(
        "Alt text (what the photo shows)", id="image-alt", validators=[Length(max=200)]
    )


class ImageEditForm(FlaskForm):
    alt = StringField("Alt text", validators=[Length(max=200)])
    position = WholeNumberField(
        "Order",
        validators=[InputRequired("Enter the order."), NumberRange(0, 1000, "Order: 0 to 1000.")],
    )


class AdjustForm(Keyed):
    delta = WholeNumberField(
        "Change (+ adds, − removes)",
        validators=[
            InputRequired("Enter how many units to add (+) or remove (−)."),
            NumberRange(-MAX_ADJUST, MAX_ADJUST, f"Change by at most {MAX_ADJUST} units."),
        ],
    )
    kind = SelectField(
        "Kind",
        choices=[SelectChoice(r.value) for r in sorted(ADJUSTABLE)],
        default=MovementReason.ADJUST.value,
    )
    reason = StringField(
        "Reason", validators=[DataRequired("Say why the stock changes."), Length(max=500)]
    )
    force = BooleanField("Force: release the newest shoppers' holds if the units are held")


class KeysForm(Keyed):
    keys = TextAreaField("Keys, one per line", validators=[Optional(), Length(max=19_000)])
    file = FileField("Or a CSV or text file (one key per line, or the first column)")
