"""WTForms forms: every state-changing form carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TelField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from app.services.accounts.signin import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from app.services.checkout import countries

from .input_guard import MAX_ID


def an_id(message: str) -> NumberRange:
    """An id field: a whole number the database can hold (anything else names nothing)."""
    return NumberRange(min=1, max=MAX_ID, message=message)


class AddToCartForm(FlaskForm):
    variant_id = IntegerField(
        "Option",
        validators=[
            InputRequired("Choose an option."),
            an_id("That item is not in our catalogue."),
        ],
    )
    quantity = IntegerField(
        "Quantity",
        default=1,
        validators=[
            InputRequired("Enter a quantity."),
            NumberRange(min=1, max=999, message="Enter a quantity from 1 to 999."),
        ],
    )


class UpdateCartForm(FlaskForm):
    variant_id = IntegerField(
        "Item", validators=[InputRequired("Which item?"), an_id("That item is not in your cart.")]
    )
    quantity = IntegerField(
        "Quantity",
        validators=[
            InputRequired("Enter a quantity."),
            NumberRange(min=0, max=999, message="Enter a quantity from 0 to 999."),
        ],
    )


def new_password(label: str, missing: str) -> PasswordField:
    """A password being chosen: the length rules of services/accounts/signin.py."""
    length = Length(
        min=MIN_PASSWORD_LENGTH,
        max=MAX_PASSWORD_LENGTH,
        message=f"Use at least {MIN_PASSWORD_LENGTH} characters.",
    )
    return PasswordField(label, validators=[DataRequired(missing), length])


def repeat_password(label: str) -> PasswordField:
    return PasswordField(label, validators=[EqualTo("password", "The passwords do not match.")])


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)])
    password = PasswordField(
        "Password",
        validators=[DataRequired("Enter your password."), Length(max=MAX_PASSWORD_LENGTH)],
    )
    next = HiddenField()


class RegisterForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=120)])
    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter your email."),
            Email("Enter a valid email address.", check_deliverability=False),
            Length(max=254),
        ],
    )
    password = new_password("Password", "Choose a password.")
    confirm = repeat_password("Repeat password")
    next = HiddenField()


class LogoutForm(FlaskForm):
    pass


class ChangePasswordForm(FlaskForm):
    current = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password."), Length(max=MAX_PASSWORD_LENGTH)],
    )
    password = new_password("New password", "Choose a new password.")
    confirm = repeat_password("Repeat new password")


def _stripped(value):
    return value.strip() if isinstance(value, str) else value


def _country_code(value):
    return countries.normalize(value) if isinstance(value, str) else value


def a_country(form, field) -> None:
    """A code from the maintained list (a hand-made post may send anything)."""
    if not countries.is_country(field.data):
        raise ValidationError("Choose your country from the list.")


PHONE_CHARACTERS = re.compile(r"^[0-9 +\-()]*$")


def a_phone(form, field) -> None:
    """Loosely a phone number: digits, spaces, +, - and brackets, with 6 to 20 digits."""
    value = field.data or ""
    digits = sum(ch.isdigit() for ch in value)
    if value and (not PHONE_CHARACTERS.match(value) or not 6 <= digits <= 20):
        raise ValidationError(
            "Enter a phone number of 6 to 20 digits (spaces, +, - and brackets are fine)."
        )


class CheckoutForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter your email so we can send your receipt."),
            Email("Enter a valid email address.", check_deliverability=False),
            Length(max=254),
        ],
    )
    full_name = StringField(
        "Full name", validators=[DataRequired("Enter your name."), Length(max=120)]
    )
    address_line1 = StringField(
        "Address", validators=[DataRequired("Enter your street address."), Length(max=200)]
    )
    address_line2 = StringField(
        "Address line 2 (optional)",
        validators=[Optional(), Length(max=200)],
        filters=[_stripped],
    )
    city = StringField("City", validators=[DataRequired("Enter your city."), Length(max=120)])
    region = StringField(
        "State / region (optional)", validators=[Optional(), Length(max=120)], filters=[_stripped]
    )
    postal_code = StringField(
        "Postal code", validators=[DataRequired("Enter your postal code."), Length(max=20)]
    )
    country = SelectField(
        "Country",
        choices=countries.choices,
        validate_choice=False,  # a_country says what is wrong, in words
        validators=[DataRequired("Choose your country."), a_country],
        filters=[_country_code],
    )
    phone = TelField(
        "Phone (optional)",
        validators=[
            Length(max=32, message="Enter a phone number of at most 32 characters."),
            a_phone,
        ],
        filters=[_stripped],
    )
    save_address = BooleanField("Save this address to my account", default=True)


class DigitalCheckoutForm(FlaskForm):
    """A cart of digital goods only: delivered by email, so no address; the country is asked
    for the tax (it starts on the shop's own)."""

    email = CheckoutForm.email
    full_name = StringField("Name (optional)", validators=[Optional(), Length(max=120)])
    country = SelectField(
        "Country (for tax)",
        choices=countries.choices,
        validate_choice=False,
        validators=[Optional(), a_country],
        filters=[_country_code],
    )


class PayForm(FlaskForm):
    payment_provider = StringField("Pay with", validators=[DataRequired("Choose how to pay.")])


class ConfirmPricesForm(FlaskForm):
    seen_total_cents = IntegerField(validators=[InputRequired(), NumberRange(min=0, max=MAX_ID)])


class ShippingChoiceForm(FlaskForm):
    rate_id = IntegerField(validators=[InputRequired(), NumberRange(min=1, max=MAX_ID)])


class DiscountCodeForm(FlaskForm):
    code = StringField("Discount code", validators=[Length(max=40)])


class ActionForm(FlaskForm):
    """A button that only needs its CSRF token (extend, retry)."""


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = new_password("New password", "Choose a password.")
    confirm = repeat_password("Repeat password")


class ReturnForm(FlaskForm):
    line_id = IntegerField(
        validators=[InputRequired("Which item?"), an_id("That item is not part of this order.")]
    )
    quantity = IntegerField(
        "Quantity",
        validators=[
            InputRequired("How many?"),
            NumberRange(min=1, max=999, message="Enter a quantity."),
        ],
    )
    reason = StringField("Reason", validators=[DataRequired("Tell us why."), Length(max=2000)])
    t = HiddenField()
    # Asked only of someone who opened the order through a guest link (order_book.Access).
    email = EmailField("Your email", validators=[Length(max=254)])


class OrderActionForm(FlaskForm):
    t = HiddenField()
    email = EmailField("Your email", validators=[Length(max=254)])  # as in ReturnForm


class OrderLinkForm(FlaskForm):
    """The "send me a new link" form: an order's number and the email it was placed with."""

    number = StringField(
        "Order number", validators=[DataRequired("Enter the order number."), Length(max=20)]
    )
    email = EmailField(
        "Email", validators=[DataRequired("Enter the order's email."), Length(max=254)]
    )


class ShipForm(FlaskForm):
    carrier = StringField("Carrier", validators=[DataRequired("Name the carrier."), Length(max=60)])
    tracking = StringField(
        "Tracking number",
        validators=[DataRequired("Enter the tracking number."), Length(max=120)],
    )


class RefundForm(FlaskForm):
    """An owner's refund. ``key`` is drawn when the form is shown, so a double click (two
    posts of one form) is one refund."""

    amount = StringField("Amount", validators=[DataRequired("Enter the amount."), Length(max=20)])
    reason = StringField("Reason", validators=[DataRequired("Give a reason."), Length(max=500)])
    key = HiddenField(validators=[DataRequired(), Length(min=16, max=64)])


class CancelForm(FlaskForm):
    reason = StringField("Reason", validators=[Length(max=500)])


class KeyedActionForm(FlaskForm):
    """A button whose ``key`` is drawn when the page is shown: two posts of one form (a double
    click) are one action (sending an email again)."""

    key = HiddenField(validators=[DataRequired(), Length(min=16, max=64)])
