"""Money is integer minor units with a currency. This module only formats it."""

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
