"""Settings and small helpers that guard the edges."""

import pytest

from app.config import ConfigError, load_config, normalize_database_url
from app.money import format_money


def test_operators_database_urls_get_the_psycopg_driver():
    assert normalize_database_url("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    assert normalize_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_development_generates_a_secret_key_once(tmp_path):
    first = load_config(str(tmp_path), env={})
    second = load_config(str(tmp_path), env={})
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert len(first["SECRET_KEY"]) >= 32
    assert first["DATABASE_URL"] == f"sqlite:///{tmp_path / 'holdfast.db'}"


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config(str(tmp_path), env={"HOLDFAST_ENV": "production"})


def test_malformed_numbers_in_settings_are_named(tmp_path):
    with pytest.raises(ConfigError, match="HOLD_TTL_MINUTES"):
        load_config(str(tmp_path), env={"HOLD_TTL_MINUTES": "soon", "SECRET_KEY": "x"})


def test_settings_have_the_documented_defaults(tmp_path):
    cfg = load_config(str(tmp_path), env={"SECRET_KEY": "x"})
    assert cfg["HOLD_TTL_MINUTES"] == 15
    assert cfg["HOLD_MAX_TTL_MINUTES"] == 60
    assert cfg["HOLD_SWEEP_INTERVAL_MINUTES"] == 5
    assert cfg["CHECKOUT_PRICE_DRIFT_TOLERANCE_PERCENT"] == 1.0
    assert cfg["PAYMENT_PROVIDERS"] == ["testpay"]
    assert cfg["REDIS_URL"] is None


@pytest.mark.parametrize(
    ("cents", "currency", "text"),
    [
        (0, "USD", "$0.00"),
        (123456, "USD", "$1,234.56"),
        (-250, "EUR", "-€2.50"),
        (500, "JPY", "500 JPY"),
        (199, "CHF", "1.99 CHF"),
    ],
)
def test_money_is_formatted_from_minor_units(cents, currency, text):
    assert format_money(cents, currency) == text


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/cart", "/cart"),
        ("/products/x?variant=2", "/products/x?variant=2"),
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
        ("/\\evil", "/"),
        ("", "/"),
        (None, "/"),
        ("cart", "/"),
        ("/ok\r\nSet-Cookie: x", "/"),
    ],
)
def test_only_relative_paths_on_this_site_are_followed(target, expected):
    from app.web import safe_next

    assert safe_next(target) == expected
