"""The checkout's country list: every ISO 3166 country by name, codes kept upper case, an
unknown code never taken for a country, the shop's default only when it names one."""

from app.services.checkout import countries


def test_the_list_is_iso_3166_by_name():
    codes = [code for code, _name in countries.choices()]
    names = [name for _code, name in countries.choices()]
    assert len(codes) == len(set(codes)) >= 249
    assert ("DE", "Germany") in countries.choices() and ("TW", "Taiwan") in countries.choices()
    assert names.index("Åland Islands") < names.index("Albania")  # not after Zimbabwe
    assert names.index("Afghanistan") == 0


def test_codes_are_checked_and_named():
    assert countries.is_country("gb") and countries.is_country(" US ")
    assert not any(countries.is_country(v) for v in ("", None, "XX", "UK", "GBR", "Germany"))
    assert countries.name_of("gb") == "United Kingdom"
    assert countries.name_of("XX") == "XX"  # an old row reads as itself, never a 500


def test_the_default_is_the_shops_country_or_the_us():
    assert countries.default_country("de") == "DE"
    assert countries.default_country(None) == "US"
    assert countries.default_country("Narnia") == "US"
