"""Settings and small helpers that guard the edges."""

import secrets

import pytest

from app.config import (
    ConfigError,
    check_startup,
    load_config,
    normalize_database_url,
    secret_key_problem,
)
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


@pytest.mark.parametrize("name", ["prod", "live", "dev", "staging2", ""])
def test_an_unknown_environment_name_stops_start_up(tmp_path, name):
    with pytest.raises(ConfigError, match=f"HOLDFAST_ENV={name!r} is not a known environment"):
        load_config(str(tmp_path), env={"HOLDFAST_ENV": name, "SECRET_KEY": "x"})


@pytest.mark.parametrize(
    ("environment", "secure", "hsts", "testpay"),
    [
        ("development", False, 0, True),
        ("test", False, 0, True),
        ("staging", True, 31_536_000, True),
        ("production", True, 31_536_000, False),
    ],
)
def test_each_environment_has_its_defaults(tmp_path, environment, secure, hsts, testpay):
    cfg = load_config(str(tmp_path), env={"HOLDFAST_ENV": environment, "SECRET_KEY": "k"})
    assert cfg["SESSION_COOKIE_SECURE"] is secure
    assert cfg["REMEMBER_COOKIE_SECURE"] is secure
    assert cfg["SESSION_COOKIE_HTTPONLY"] and cfg["REMEMBER_COOKIE_HTTPONLY"]
    assert cfg["SESSION_COOKIE_SAMESITE"] == cfg["REMEMBER_COOKIE_SAMESITE"] == "Lax"
    assert cfg["HSTS_SECONDS"] == hsts
    assert cfg["TESTPAY_ENABLED"] is testpay
    assert cfg["TRUSTED_PROXIES"] == 0


def test_cookie_security_and_hsts_can_be_set(tmp_path):
    env = {"HOLDFAST_ENV": "staging", "SECRET_KEY": "k", "SESSION_COOKIE_SECURE": "false"}
    cfg = load_config(str(tmp_path), env={**env, "HSTS_SECONDS": "0", "TRUSTED_PROXIES": "2"})
    assert cfg["SESSION_COOKIE_SECURE"] is cfg["REMEMBER_COOKIE_SECURE"] is False
    assert cfg["HSTS_SECONDS"] == 0
    assert cfg["TRUSTED_PROXIES"] == 2
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES must be at least 0"):
        load_config(str(tmp_path), env={**env, "TRUSTED_PROXIES": "-1"})


@pytest.mark.parametrize(
    "key",
    [
        secrets.token_hex(16),
        secrets.token_hex(32),
        secrets.token_urlsafe(32),
        "x" * 7 + "a1b2c3d4" * 4,
    ],
)
def test_random_secret_keys_are_accepted(key):
    assert secret_key_problem(key) is None


@pytest.mark.parametrize(
    "key",
    [None, "", "   ", "dev", "'changeme'", "SECRET", "a" * 64, "ab" * 32, "short-but-random-9f2"],
)
def test_weak_secret_keys_are_named(key):
    assert secret_key_problem(key)


def test_check_startup_refuses_debug_only_where_production_rules_apply():
    config = {"ENV_NAME": "development", "SECRET_KEY": "dev", "PAYMENT_PROVIDERS": ["testpay"]}
    check_startup(config, debug=True)
    check_startup({**config, "ENV_NAME": "test"}, debug=True)
    strong = {**config, "ENV_NAME": "staging", "SECRET_KEY": secrets.token_hex(32)}
    strong["TESTPAY_ENABLED"] = True
    check_startup(strong, debug=False)
    with pytest.raises(ConfigError, match="^Debug mode is on in staging"):
        check_startup(strong, debug=True)
    with pytest.raises(ConfigError, match="^HOLDFAST_ENV='prod'"):
        check_startup({**strong, "ENV_NAME": "prod"}, debug=False)


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
