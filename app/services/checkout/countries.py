"""The countries a shopper ships to: ISO 3166-1 from ``pycountry`` (a maintained list, never
hand-typed codes). Stored as the alpha-2 code; shown by name."""

from __future__ import annotations

import unicodedata
from functools import cache

import pycountry

FALLBACK_DEFAULT = "US"


@cache
def choices() -> tuple[tuple[str, str], ...]:
    """(code, name) for every country, by name: the checkout form's select."""
    rows = [(c.alpha_2, getattr(c, "common_name", None) or c.name) for c in pycountry.countries]
    return tuple(sorted(rows, key=lambda row: _sort_key(row[1])))


def _sort_key(name: str) -> str:
    """Åland Islands sorts among the A's."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()


@cache
def _names() -> dict[str, str]:
    return dict(choices())


def normalize(code: str | None) -> str:
    return (code or "").strip().upper()


def is_country(code: str | None) -> bool:
    return normalize(code) in _names()


def name_of(code: str | None) -> str:
    """The country's name; an unknown code (an old row) reads as itself."""
    code = normalize(code)
    return _names().get(code, code)


def default_country(configured: str | None) -> str:
    """The shop's country when it names one, else the US."""
    return normalize(configured) if is_country(configured) else FALLBACK_DEFAULT
