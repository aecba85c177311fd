"""Settings from the environment, each with a safe default.

``load_config`` reads ``os.environ`` (and ``.env`` in development and test, through
python-dotenv in ``create_app``) into a plain dict that ``create_app`` applies to
``app.config``; ``check_startup`` then refuses a set-up unsafe for its environment. Tests pass
overrides instead of touching the environment.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """A setting is missing or malformed; raised at start-up, never at request time."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _positive(env: dict[str, str], name: str, default: float) -> float:
    """Minutes may be fractional (0.05 is three seconds, for demos and tests)."""
    value = _float(env, name, default)
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0, got {value:g}")
    return value


def normalize_database_url(url: str) -> str:
    """Accept URLs as operators write them and pick the psycopg 3 driver for Postgres."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def secret_key_from_instance(instance_path: str) -> str:
    """Development only: a random key generated once into the instance folder."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


# development: `make run`, a laptop. test: the test suite. staging: production's rules on a
# shop that takes test payments (testpay allowed, no real provider needed) — the benchmarks'
# and fault tests' stack runs so. production: a shop that takes money.
KNOWN_ENVIRONMENTS = ("development", "test", "staging", "production")
# Environments that run with production's rules (a real secret key, no debug, Secure cookies).
PRODUCTION_LIKE = ("staging", "production")


REAL_PROVIDERS = {
    "paypal": ("PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET", "PAYPAL_WEBHOOK_ID"),
    "stripe": ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"),
    "razorpay": ("RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET"),
}


def check_payment_providers(config: Mapping[str, Any]) -> None:
    """Refuse a payment set-up that cannot take money (or takes pretend money where real is
    expected): an unknown provider anywhere; in production- and staging-like environments a
    real provider without its keys or webhook secret, or testpay listed while disabled; in
    production also testpay enabled or listed, and no real provider."""
    providers = config.get("PAYMENT_PROVIDERS") or []
    unknown = [p for p in providers if p not in REAL_PROVIDERS and p != "testpay"]
    if unknown:
        raise ConfigError(
            f"PAYMENT_PROVIDERS names an unknown provider: {', '.join(unknown)} "
            f"(known: testpay, {', '.join(REAL_PROVIDERS)})"
        )
    environment = config.get("ENV_NAME")
    if environment not in PRODUCTION_LIKE:
        return
    if environment == "production":
        _refuse_test_payments(config, providers)
    for name in (p for p in providers if p in REAL_PROVIDERS):
        missing = [key for key in REAL_PROVIDERS[name] if not config.get(key)]
        if missing:
            raise ConfigError(
                f"PAYMENT_PROVIDERS enables {name}, but {', '.join(missing)} is not set: "
                f"set it from the provider's dashboard (docs/PAYMENTS.md) or remove {name}"
            )
    if "testpay" in providers and not config.get("TESTPAY_ENABLED"):
        raise ConfigError(
            f"PAYMENT_PROVIDERS lists testpay, which is disabled (TESTPAY_ENABLED=false) in "
            f"{environment}: remove it, or set TESTPAY_ENABLED=true"
        )


def _refuse_test_payments(config: Mapping[str, Any], providers: list[str]) -> None:
    """Production takes money: testpay (which approves anything) is never on, a real provider
    always is. A shop that takes test payments runs as ``HOLDFAST_ENV=staging``."""
    if config.get("TESTPAY_ENABLED"):
        raise ConfigError(
            "TESTPAY_ENABLED=true in production: testpay marks orders paid without taking "
            "money. Unset it (a shop taking test payments runs with HOLDFAST_ENV=staging)"
        )
    if not any(p in REAL_PROVIDERS for p in providers):
        raise ConfigError(
            "Production needs a real payment provider: set PAYMENT_PROVIDERS to "
            "paypal, stripe or razorpay (with its keys; see docs/PAYMENTS.md). "
            "testpay takes no money."
        )
    if "testpay" in providers:
        raise ConfigError(
            "PAYMENT_PROVIDERS lists testpay in production: remove it (a shop taking test "
            "payments runs with HOLDFAST_ENV=staging)"
        )


# Secret keys copied from tutorials, examples and our own tests: refused in production even
# when long enough. Compared lower-cased, without surrounding spaces or quotes.
KNOWN_SECRET_KEYS = frozenset(
    {
        "dev",
        "development",
        "secret",
        "secret-key",
        "secret_key",
        "secretkey",
        "mysecret",
        "supersecret",
        "super-secret",
        "super-secret-key",
        "changeme",
        "change-me",
        "change_me",
        "changethis",
        "change-this",
        "please-change-me",
        "replace-me",
        "default",
        "password",
        "holdfast",
        "test",
        "testing",
        "test-secret-key",
        "your-secret-key",
        "your_secret_key",
        "your-secret-key-here",
        "unused-by-the-schedule",
        "insecure",
        "not-a-secret",
        "xxx",
    }
)
SECRET_KEY_MIN_LENGTH = 32


def secret_key_problem(key: str | None) -> str | None:
    """Why ``key`` cannot sign a production shop's sessions, or None when it can."""
    key = (key or "").strip()
    if not key:
        return "is not set"
    if key.strip("'\"").lower() in KNOWN_SECRET_KEYS:
        return "is a well-known example value"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"is too short: {len(key)} of at least {SECRET_KEY_MIN_LENGTH} characters"
    if len(set(key)) < 8:
        return "uses fewer than 8 different characters (a pattern, not a random value)"
    return None


def check_startup(config: Mapping[str, Any], debug: bool) -> None:
    """Refuse to start a shop that would be unsafe in its environment; each refusal names the
    setting and how to fix it (docs/SECURITY.md). Development and test only check
    what would fail anyway (the environment's name, unknown payment providers).

    ``debug``: Flask's debug mode or Werkzeug's debugger is on (``create_app`` works it out)."""
    environment = config.get("ENV_NAME")
    if environment not in KNOWN_ENVIRONMENTS:
        raise ConfigError(
            f"HOLDFAST_ENV={environment!r} is not a known environment "
            f"(known: {', '.join(KNOWN_ENVIRONMENTS)})"
        )
    if environment in PRODUCTION_LIKE:
        if debug:
            raise ConfigError(
                f"Debug mode is on in {environment} (FLASK_DEBUG, --debug or --debugger): "
                "the Werkzeug debugger runs any code a visitor sends. Unset FLASK_DEBUG and "
                "serve with gunicorn (docs/RELIABILITY.md)"
            )
        problem = secret_key_problem(config.get("SECRET_KEY"))
        if problem:
            raise ConfigError(
                f"SECRET_KEY {problem} in {environment}: set it to a random value of at "
                "least 32 characters, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`"
            )
    check_payment_providers(config)


def load_config(instance_path: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ if env is None else env)
    environment = env.get("HOLDFAST_ENV", env.get("FLASK_ENV", "development")).strip().lower()
    if environment not in KNOWN_ENVIRONMENTS:
        raise ConfigError(
            f"HOLDFAST_ENV={environment!r} is not a known environment "
            f"(known: {', '.join(KNOWN_ENVIRONMENTS)})"
        )
    production = environment in PRODUCTION_LIKE
    return {
        "ENV_NAME": environment,
        **_shop(env, instance_path, production),
        **_security(env, production),
        **_holds_and_checkout(env),
        **_payments(env, environment),
        **_mail(env, instance_path),
        **_database(env),
        **_observability(env),
        **_alerts(env, instance_path),
        **_backups(env, instance_path),
    }


def _shop(env: dict[str, str], instance_path: str, production: bool) -> dict[str, Any]:
    """The shop itself: its keys, where its data lives, its sessions and its limits."""
    database_url = env.get("DATABASE_URL") or f"sqlite:///{Path(instance_path) / 'holdfast.db'}"
    secret_key = env.get("SECRET_KEY")
    if not secret_key:
        if production:
            raise ConfigError(
                "SECRET_KEY must be set in staging and production: a random value of at least "
                "32 characters (`python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        secret_key = secret_key_from_instance(instance_path)
    # Cookies travel over HTTPS only where the shop is served so (a loopback stack says false).
    secure_cookies = _bool(env.get("SESSION_COOKIE_SECURE"), production)
    return {
        "SECRET_KEY": secret_key,
        "DATABASE_URL": normalize_database_url(database_url),
        "REDIS_URL": env.get("REDIS_URL") or None,
        "SHOP_NAME": env.get("SHOP_NAME", "Holdfast Supply Co."),
        "SHOP_CURRENCY": env.get("SHOP_CURRENCY", "USD"),
        # The country the checkout form starts on (ISO 3166 alpha-2).
        "SHOP_COUNTRY": (env.get("SHOP_COUNTRY") or "US").strip().upper(),
        # Links in emails. Without a setting, the address `make run` serves on.
        "SHOP_BASE_URL": (
            env.get("SHOP_BASE_URL") or f"http://127.0.0.1:{env.get('PORT', '5000')}"
        ).rstrip("/"),
        "CATALOG_PAGE_SIZE": _int(env, "CATALOG_PAGE_SIZE", 12, minimum=1),
        "RATE_LIMIT_ENABLED": _bool(env.get("RATE_LIMIT_ENABLED"), True),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI")
        or env.get("REDIS_URL")
        or "memory://",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": secure_cookies,
        "WTF_CSRF_TIME_LIMIT": None,
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        # Views marked ``input_guard.allow_upload`` (the admin's photo and key uploads) only.
        "MAX_UPLOAD_LENGTH": _int(env, "MAX_UPLOAD_MB", 6, minimum=1) * 1024 * 1024,
        "SENTRY_DSN": env.get("SENTRY_DSN") or None,
    }


def _security(env: dict[str, str], production: bool) -> dict[str, Any]:
    """Proxies, rate limits, guest links, HSTS (docs/SECURITY.md)."""
    return {
        # How many proxies in front of the app set X-Forwarded-For/-Proto/-Host (nginx: 1).
        # 0 trusts no header: with a proxy in front, every shopper would share one address.
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0, minimum=0),
        # Flask-Limiter's notation ("10 per minute; 100 per hour"), per client address.
        "RATE_LIMIT_LOGIN": env.get("RATE_LIMIT_LOGIN", "10 per minute; 60 per hour"),
        "RATE_LIMIT_REGISTER": env.get("RATE_LIMIT_REGISTER", "10 per hour"),
        "RATE_LIMIT_PASSWORD_RESET": env.get("RATE_LIMIT_PASSWORD_RESET", "5 per hour"),
        "RATE_LIMIT_CART": env.get("RATE_LIMIT_CART", "60 per minute"),
        "RATE_LIMIT_CHECKOUT": env.get("RATE_LIMIT_CHECKOUT", "10 per minute"),
        "RATE_LIMIT_PAY": env.get("RATE_LIMIT_PAY", "20 per minute"),
        "RATE_LIMIT_SEARCH": env.get("RATE_LIMIT_SEARCH", "60 per minute"),
        "RATE_LIMIT_ORDER_LOOKUP": env.get("RATE_LIMIT_ORDER_LOOKUP", "30 per minute"),
        "RATE_LIMIT_WEBHOOK": env.get("RATE_LIMIT_WEBHOOK", "600 per minute"),
        # A failed log-in for an (email, address) pair past the free ones doubles the wait
        # before the next one is checked, up to the cap.
        "LOGIN_FREE_FAILURES": _int(env, "LOGIN_FREE_FAILURES", 5, minimum=1),
        "LOGIN_MAX_DELAY_SECONDS": _int(env, "LOGIN_MAX_DELAY_SECONDS", 900, minimum=1),
        "GUEST_LINK_DAYS": _int(env, "GUEST_LINK_DAYS", 90, minimum=1),
        "HSTS_SECONDS": _int(env, "HSTS_SECONDS", 31_536_000 if production else 0, minimum=0),
    }


def _holds_and_checkout(env: dict[str, str]) -> dict[str, Any]:
    return {
        "HOLD_TTL_MINUTES": _positive(env, "HOLD_TTL_MINUTES", 15),
        "HOLD_MAX_TTL_MINUTES": _positive(env, "HOLD_MAX_TTL_MINUTES", 60),
        "HOLD_SWEEP_INTERVAL_MINUTES": _int(env, "HOLD_SWEEP_INTERVAL_MINUTES", 5, minimum=1),
        "HOLD_SWEEP_BATCH_SIZE": _int(env, "HOLD_SWEEP_BATCH_SIZE", 1000, minimum=1),
        "CHECKOUT_PRICE_DRIFT_TOLERANCE_PERCENT": _float(
            env, "CHECKOUT_PRICE_DRIFT_TOLERANCE_PERCENT", 1.0
        ),
        "CART_MAX_QUANTITY_PER_LINE": _int(env, "CART_MAX_QUANTITY_PER_LINE", 99, minimum=1),
        # Public catalogue pages kept per process (app/page_cache.py); 0 turns it off.
        "PAGE_CACHE_SECONDS": _int(env, "PAGE_CACHE_SECONDS", 5, minimum=0),
        "PAGE_CACHE_ENTRIES": _int(env, "PAGE_CACHE_ENTRIES", 256, minimum=1),
    }


def _payments(env: dict[str, str], environment: str) -> dict[str, Any]:
    providers = [p.strip() for p in env.get("PAYMENT_PROVIDERS", "testpay").split(",") if p.strip()]
    return {
        "PAYMENT_PROVIDERS": providers,
        "PAYMENT_RECONCILE_AFTER_MINUTES": _int(
            env, "PAYMENT_RECONCILE_AFTER_MINUTES", 10, minimum=1
        ),
        # Everywhere but production (staging is the shop that takes test payments).
        "TESTPAY_ENABLED": _bool(env.get("TESTPAY_ENABLED"), environment != "production"),
        "TESTPAY_WEBHOOK_SECRET": env.get("TESTPAY_WEBHOOK_SECRET") or None,
        "PAYPAL_CLIENT_ID": env.get("PAYPAL_CLIENT_ID", ""),
        "PAYPAL_CLIENT_SECRET": env.get("PAYPAL_CLIENT_SECRET", ""),
        "PAYPAL_WEBHOOK_ID": env.get("PAYPAL_WEBHOOK_ID", ""),
        "PAYPAL_BASE_URL": env.get("PAYPAL_BASE_URL", "https://api-m.sandbox.paypal.com"),
        "STRIPE_SECRET_KEY": env.get("STRIPE_SECRET_KEY", ""),
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET", ""),
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE", "https://api.stripe.com"),
        "RAZORPAY_KEY_ID": env.get("RAZORPAY_KEY_ID", ""),
        "RAZORPAY_KEY_SECRET": env.get("RAZORPAY_KEY_SECRET", ""),
        "RAZORPAY_WEBHOOK_SECRET": env.get("RAZORPAY_WEBHOOK_SECRET", ""),
        "RAZORPAY_BASE_URL": env.get("RAZORPAY_BASE_URL", "https://api.razorpay.com"),
    }


def _mail(env: dict[str, str], instance_path: str) -> dict[str, Any]:
    return {
        "MAIL_SERVER": env.get("MAIL_SERVER") or None,
        "MAIL_PORT": _int(env, "MAIL_PORT", 587, minimum=1),
        "MAIL_USERNAME": env.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _bool(env.get("MAIL_USE_TLS"), True),
        "MAIL_USE_SSL": _bool(env.get("MAIL_USE_SSL"), False),
        "MAIL_DEFAULT_SENDER": env.get("MAIL_DEFAULT_SENDER", "Holdfast <shop@localhost>"),
        "MAIL_TIMEOUT": _positive(env, "MAIL_TIMEOUT", 30),
        "MAIL_MAX_ATTEMPTS": _int(env, "MAIL_MAX_ATTEMPTS", 8, minimum=1),
        "MAIL_SENDING_TIMEOUT_MINUTES": _positive(env, "MAIL_SENDING_TIMEOUT_MINUTES", 10),
        "MAIL_FILE_DIR": env.get("MAIL_FILE_DIR") or str(Path(instance_path) / "mail"),
        "MAIL_AUTO_DISPATCH": _bool(env.get("MAIL_AUTO_DISPATCH"), True),
    }


def _backups(env: dict[str, str], instance_path: str) -> dict[str, Any]:
    """``flask holdfast backup``: where backups go and how many of them are kept."""
    return {
        "BACKUP_DIR": env.get("BACKUP_DIR") or str(Path(instance_path) / "backups"),
        "BACKUP_KEEP": _int(env, "BACKUP_KEEP", 14, minimum=1),
    }


def _alerts(env: dict[str, str], instance_path: str) -> dict[str, Any]:
    """What the owner is alerted about, and when (docs/ADMIN.md, "Alerts")."""
    return {
        "ALERT_5XX_THRESHOLD": _int(env, "ALERT_5XX_THRESHOLD", 5, minimum=1),
        "ALERT_WEBHOOK_FAILURES": _int(env, "ALERT_WEBHOOK_FAILURES", 5, minimum=1),
        "ALERT_SWEEP_MINUTES": _int(env, "ALERT_SWEEP_MINUTES", 10, minimum=1),
        "ALERT_MEMORY_PERCENT": _int(env, "ALERT_MEMORY_PERCENT", 80, minimum=1),
        # Also told when the database (where the owners are listed) cannot be reached.
        "ALERT_EMAIL": env.get("ALERT_EMAIL", ""),
        # Counts and notes without Redis, shared by the web processes and the cron command.
        "ALERT_STATE_DIR": env.get("ALERT_STATE_DIR") or str(Path(instance_path) / "alerts"),
    }


def _database(env: dict[str, str]) -> dict[str, Any]:
    """No request waits for a minute (docs/CONFIGURATION.md, "Database")."""
    return {
        "DB_LOCK_TIMEOUT_MS": _int(env, "DB_LOCK_TIMEOUT_MS", 5_000, minimum=1),
        "DB_STATEMENT_TIMEOUT_MS": _int(env, "DB_STATEMENT_TIMEOUT_MS", 15_000, minimum=1),
        "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS": _int(
            env, "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 60_000, minimum=1
        ),
        "DB_RETRY_ATTEMPTS": _int(env, "DB_RETRY_ATTEMPTS", 3, minimum=1),
        "DB_POOL_SIZE": _int(env, "DB_POOL_SIZE", 4, minimum=1),
        "DB_MAX_OVERFLOW": _int(env, "DB_MAX_OVERFLOW", 4, minimum=0),
        "DB_POOL_TIMEOUT_SECONDS": _positive(env, "DB_POOL_TIMEOUT_SECONDS", 10),
    }


LOG_FORMATS = ("json", "text")


def log_settings(env: Mapping[str, str]) -> tuple[str, str]:
    """``LOG_FORMAT`` (json in staging and production, else text) and ``LOG_LEVEL`` (INFO);
    gunicorn.conf.py reads them the same way for gunicorn's own lines."""
    environment = env.get("HOLDFAST_ENV", env.get("FLASK_ENV", "development")).strip().lower()
    default = "json" if environment in PRODUCTION_LIKE else "text"
    log_format = (env.get("LOG_FORMAT") or default).strip().lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be json or text, got {log_format!r}")
    level = (env.get("LOG_LEVEL") or "INFO").strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    return log_format, level


def _observability(env: dict[str, str]) -> dict[str, Any]:
    """Logs, metrics, Sentry (docs/OBSERVABILITY.md)."""
    log_format, level = log_settings(env)
    allow = tuple(
        a.strip() for a in env.get("METRICS_ALLOW", "127.0.0.1,::1").split(",") if a.strip()
    )
    for entry in allow:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise ConfigError(f"METRICS_ALLOW: {entry!r} is not an address or network") from exc
    rate = _float(env, "SENTRY_TRACES_SAMPLE_RATE", 0.0)
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"SENTRY_TRACES_SAMPLE_RATE must be between 0 and 1, got {rate:g}")
    return {
        "LOG_FORMAT": log_format,
        "LOG_LEVEL": level,
        # Who may read GET /metrics: addresses or networks (after ProxyFix), and a bearer token.
        "METRICS_ALLOW": allow,
        "METRICS_TOKEN": env.get("METRICS_TOKEN") or None,
        "SENTRY_TRACES_SAMPLE_RATE": rate,
    }
