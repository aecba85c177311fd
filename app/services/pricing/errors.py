"""What pricing refuses: inputs that cannot be priced, told in words fit for an owner."""

from __future__ import annotations

from app.services.errors import DomainError


class PricingError(DomainError):
    """A cart, rate, tax or discount that cannot be priced as given (a 400 when it reaches a
    route): a negative amount, a currency that does not match, a rate that cannot serve the
    cart, or a refund larger than what is left to refund."""


def require_whole(value: object, what: str) -> None:
    """Refuse anything but a whole number of at least 0 (a float would let fractions of a cent
    in; a bool is not an amount)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PricingError(f"{what} must be a whole number of at least 0.")
