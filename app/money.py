"""Money is integer minor units with a currency: formatted for people, parsed from what an
owner types."""

from __future__ import annotations

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "INR": "₹", "CAD": "CA$", "AUD": "A$"}
ZERO_DECIMAL = {"JPY", "KRW"}


def format_money(cents: int, currency: str = "USD") -> str:
    currency = currency.upper()
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    symbol = SYMBOLS.get(currency)
    if currency in ZERO_DECIMAL:
        amount = f"{cents:,}"
    else:
        amount = f"{cents // 100:,}.{cents % 100:02d}"
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


def plain_decimal(cents: int, currency: str) -> str:
    """Minor units as a plain decimal, no symbol or grouping ("12.50"; "1500" for yen): what a
    spreadsheet or schema.org's ``price`` reads."""
    if currency.upper() in ZERO_DECIMAL:
        return str(cents)
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def parse_money(text: str, currency: str = "USD") -> int:
    """A decimal amount as an owner types it ("12", "12.5", "1,299.99", "$12.50") in minor
    units. Raises ``ValueError`` with a message fit for a form for anything else."""
    currency = currency.upper()
    cleaned = (text or "").strip().replace(",", "")
    symbol = SYMBOLS.get(currency, "")
    if symbol and cleaned.startswith(symbol):
        cleaned = cleaned[len(symbol) :].strip()
    places = 0 if currency in ZERO_DECIMAL else 2
    whole, dot, fraction = cleaned.partition(".")
    if not whole.isdigit() and not (whole == "" and fraction.isdigit()):
        raise ValueError("Enter an amount such as 12.50.")
    if dot and (not fraction.isdigit() or len(fraction) > places):
        raise ValueError(f"Enter an amount with at most {places} decimal places.")
    cents = int(whole or "0") * 10**places + int((fraction or "0").ljust(places, "0") or "0")
    if cents > 10**12:
        raise ValueError("That amount is too large.")
    return cents
