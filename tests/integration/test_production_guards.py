"""Production refuses to start unsafe, naming the setting and how to fix it: debug on (the
Werkzeug console must never answer), a weak or example SECRET_KEY, an unknown HOLDFAST_ENV,
testpay on, no real payment provider, a provider without its keys or webhook secret. Staging
keeps every rule but allows testpay without a real provider; development and test start as
they always did. ``.env`` is read in development and test only."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from app.config import REAL_PROVIDERS, ConfigError

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = secrets.token_hex(32)
# Everything a start-up reads that a developer's shell might carry.
CLEARED = (
    "HOLDFAST_ENV",
    "SECRET_KEY",
    "FLASK_DEBUG",
    "FLASK_ENV",
    "TESTPAY_ENABLED",
    "PAYMENT_PROVIDERS",
    "REDIS_URL",
    "RATELIMIT_STORAGE_URI",
    *(key for keys in REAL_PROVIDERS.values() for key in keys),
)
PRODUCTION = {
    "HOLDFAST_ENV": "production",
    "SECRET_KEY": STRONG_KEY,
    "PAYMENT_PROVIDERS": "stripe",
    "STRIPE_SECRET_KEY": "sk_live_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
}
STAGING = {"HOLDFAST_ENV": "staging", "SECRET_KEY": STRONG_KEY}


@pytest.fixture
def shell(monkeypatch, tmp_path):
    """The process environment, emptied of settings; ``shell(env)`` sets some and returns
    the environment a subprocess would get."""
    for key in CLEARED:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'shop.db'}")
    monkeypatch.setenv("MAIL_FILE_DIR", str(tmp_path / "mail"))

    def set_env(*base: dict[str, str], **env: str) -> dict[str, str]:
        for key, value in {**{k: v for b in base for k, v in b.items()}, **env}.items():
            monkeypatch.setenv(key, value)
        return dict(os.environ)

    return set_env


def start(overrides=None):
    """create_app() as wsgi.py calls it; the app's pool closed again."""
    app = create_app(overrides)
    app.extensions["holdfast.db"].dispose()
    return app


def refusal(overrides=None) -> str:
    with pytest.raises(ConfigError) as refused:
        start(overrides)
    return str(refused.value)


@pytest.fixture
def dotenv_reads(monkeypatch) -> list[str]:
    import dotenv

    reads: list[str] = []
    monkeypatch.setattr(dotenv, "load_dotenv", lambda path, **kw: reads.append(str(path)))
    return reads


# ---------------------------------------------------------------- what starts


def test_a_production_shop_with_a_real_provider_starts_with_production_defaults(shell):
    shell(PRODUCTION)
    app = start()
    assert app.config["ENV_NAME"] == "production"
    assert app.config["TESTPAY_ENABLED"] is False
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["HSTS_SECONDS"] == 365 * 24 * 3600
    assert not app.debug


def test_staging_starts_on_testpay_alone(shell):
    shell(STAGING)
    app = start()
    assert app.config["PAYMENT_PROVIDERS"] == ["testpay"]
    assert app.config["TESTPAY_ENABLED"] is True  # staging is the shop of test payments
    assert app.config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize("environment", ["development", "test"])
def test_development_and_test_start_as_before_with_any_key_debug_and_testpay(shell, environment):
    shell(HOLDFAST_ENV=environment, SECRET_KEY="dev", FLASK_DEBUG="1")
    app = start()
    assert app.debug
    assert app.config["TESTPAY_ENABLED"] is True
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["HSTS_SECONDS"] == 0


# ---------------------------------------------------------------- debug


@pytest.mark.parametrize("env", [PRODUCTION, STAGING], ids=["production", "staging"])
def test_flask_debug_in_the_environment_is_refused(shell, env):
    shell(env, FLASK_DEBUG="1")
    message = refusal()
    assert "Debug mode is on" in message and "FLASK_DEBUG" in message


def test_debug_set_in_the_config_is_refused(shell):
    shell(PRODUCTION)
    assert "Debug mode is on" in refusal({"DEBUG": True})


@pytest.mark.parametrize("flags", [["--debug", "run"], ["run", "--debugger"]])
def test_flask_run_with_the_debugger_refuses_to_serve_in_production(shell, flags):
    """``flask --debug run`` and ``flask run --debugger`` would serve the Werkzeug console at
    /console: the app refuses to load, so nothing is served at all."""
    env = shell(PRODUCTION)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "--app", "wsgi", *flags, "--port", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "ConfigError: Debug mode is on in production" in done.stderr
    assert "Running on" not in done.stderr + done.stdout


# ---------------------------------------------------------------- SECRET_KEY


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("x", "is too short: 1 of at least 32 characters"),
        (secrets.token_hex(15), "is too short: 30 of at least 32 characters"),
        ("dev", "well-known example"),
        ("secret", "well-known example"),
        ("changeme", "well-known example"),
        ("change-me", "well-known example"),
        ("test-secret-key", "well-known example"),
        ("Your-Secret-Key", "well-known example"),
        ("s" * 40, "fewer than 8 different characters"),
        ("changeme" * 4, "fewer than 8 different characters"),
        ("0123" * 10, "fewer than 8 different characters"),
    ],
)
@pytest.mark.parametrize("env", [PRODUCTION, STAGING], ids=["production", "staging"])
def test_a_weak_secret_key_is_refused(shell, env, key, reason):
    shell(env, SECRET_KEY=key)
    message = refusal()
    assert message.startswith("SECRET_KEY ") and reason in message
    assert "secrets.token_hex(32)" in message  # how to make a good one
    assert len(key) < 8 or key not in message  # a refused key is not echoed to the log


def test_a_missing_secret_key_is_refused(shell):
    shell(**{key: value for key, value in PRODUCTION.items() if key != "SECRET_KEY"})
    assert "SECRET_KEY must be set in staging and production" in refusal()


# ---------------------------------------------------------------- HOLDFAST_ENV


@pytest.mark.parametrize("name", ["prod", "Prod", "live", "staging2", ""])
def test_an_unknown_environment_name_is_refused(shell, name):
    shell(PRODUCTION, HOLDFAST_ENV=name)
    message = refusal()
    assert f"HOLDFAST_ENV={name.strip().lower()!r} is not a known environment" in message
    assert "development, test, staging, production" in message


def test_the_environment_name_is_read_case_blind(shell):
    shell(PRODUCTION, HOLDFAST_ENV=" Production ")
    assert start().config["ENV_NAME"] == "production"


# ---------------------------------------------------------------- payments


def test_testpay_enabled_is_refused_in_production(shell):
    shell(PRODUCTION, TESTPAY_ENABLED="true")
    message = refusal()
    assert message.startswith("TESTPAY_ENABLED=true in production")
    assert "HOLDFAST_ENV=staging" in message


@pytest.mark.parametrize("providers", ["testpay,stripe", "stripe,testpay"])
def test_testpay_listed_is_refused_in_production(shell, providers):
    shell(PRODUCTION, PAYMENT_PROVIDERS=providers)
    assert refusal().startswith("PAYMENT_PROVIDERS lists testpay in production")


@pytest.mark.parametrize("providers", ["", "testpay"])
def test_production_without_a_real_provider_is_refused(shell, providers):
    shell(PRODUCTION, PAYMENT_PROVIDERS=providers)
    assert refusal().startswith("Production needs a real payment provider")


@pytest.mark.parametrize(
    ("provider", "missing"),
    [(name, key) for name, keys in REAL_PROVIDERS.items() for key in keys],
)
@pytest.mark.parametrize("environment", ["production", "staging"])
def test_a_real_provider_missing_a_key_or_webhook_secret_is_refused(
    shell, environment, provider, missing
):
    keys = {key: f"{key.lower()}_value" for key in REAL_PROVIDERS[provider] if key != missing}
    shell(keys, HOLDFAST_ENV=environment, SECRET_KEY=STRONG_KEY, PAYMENT_PROVIDERS=provider)
    message = refusal()
    assert message.startswith(f"PAYMENT_PROVIDERS enables {provider}, but {missing} is not set")
    assert "docs/PAYMENTS.md" in message


def test_staging_allows_testpay_beside_a_configured_provider(shell):
    stripe = {"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"}
    shell(STAGING, stripe, PAYMENT_PROVIDERS="testpay,stripe")
    assert start().config["PAYMENT_PROVIDERS"] == ["testpay", "stripe"]


def test_staging_refuses_testpay_listed_but_switched_off(shell):
    shell(STAGING, TESTPAY_ENABLED="false")
    assert "TESTPAY_ENABLED=false" in refusal()


# ---------------------------------------------------------------- .env


@pytest.mark.parametrize("env", [PRODUCTION, STAGING], ids=["production", "staging"])
def test_dotenv_is_never_read_in_staging_or_production(shell, dotenv_reads, env):
    shell(env)
    start()
    assert dotenv_reads == []


def test_an_unknown_environment_reads_no_dotenv_before_it_is_refused(shell, dotenv_reads):
    shell(PRODUCTION, HOLDFAST_ENV="prod")
    refusal()
    assert dotenv_reads == []


def test_dotenv_is_read_in_development(shell, dotenv_reads):
    shell(HOLDFAST_ENV="development", SECRET_KEY="dev")
    start()
    assert dotenv_reads == [str(ROOT / ".env")]
