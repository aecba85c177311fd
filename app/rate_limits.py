"""Rate limits on every door a visitor can knock on, from one table.

Each ``Door`` names the endpoints it covers, the setting holding its limit (Flask-Limiter
notation, e.g. ``"10 per minute; 60 per hour"``; empty turns that door's limit off) and the
methods it counts. A door is one bucket per client address (``get_remote_address``, which
follows ``ProxyFix``): its endpoints share the count, and no two doors do.

The limits are Flask-Limiter default limits whose value is read from ``app.config`` on every
request, so a test (or an operator's config) can change them per app; nothing decorates the
blueprints. Each app gets a ``Limiter`` of its own (``app.extensions["holdfast.limiter"]``):
its storage is the app's, so two test apps never share a count unless they share a Redis.

Storage: ``RATELIMIT_STORAGE_URI`` (default ``REDIS_URL``, else memory). When Redis cannot be
reached, Flask-Limiter counts in memory (per process) until it answers again; the switch, and
the return, are logged once by ``holdfast.rate_limits``. ``RATE_LIMIT_ENABLED=false`` (or
Flask-Limiter's own ``RATELIMIT_ENABLED=false``) turns every limit off, also at request time.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask_limiter import HeaderNames, Limit, Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import parse_many

from .config import ConfigError

log = logging.getLogger("holdfast.rate_limits")

EXTENSION = "holdfast.limiter"
# A Redis that hangs must not hold a request for long: past this, the count goes to memory.
REDIS_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True)
class Door:
    name: str  # the bucket: its endpoints share one count per client address
    setting: str  # the app.config key holding the limit
    endpoints: frozenset[str]
    methods: tuple[str, ...] | None = None  # None: every method counts
    misses_only: bool = False  # count only answers of 404: guessing ids, not using one's own


def _door(name, setting, endpoints, methods=None, misses_only=False) -> Door:
    return Door(name, setting, frozenset(endpoints), methods, misses_only)


POST = ("POST",)
DOORS: tuple[Door, ...] = (
    # Every log-in POST counts: the per-address limit stops password spraying across accounts
    # (the per-account slow-down lives in services/accounts).
    _door("log-in", "RATE_LIMIT_LOGIN", {"account.login"}, POST),
    # A stolen session guessing the current password to change it.
    _door("password-change", "RATE_LIMIT_LOGIN", {"account.change_password"}, POST),
    _door("register", "RATE_LIMIT_REGISTER", {"account.register"}, POST),
    # The link in the "confirm your email" message, shown and posted: token guessing.
    _door("email-confirmation", "RATE_LIMIT_REGISTER", {"account.confirm_email"}),
    _door("password-forgot", "RATE_LIMIT_PASSWORD_RESET", {"account.forgot_password"}, POST),
    # The page behind the reset link, shown and posted: token guessing.
    _door("password-reset", "RATE_LIMIT_PASSWORD_RESET", {"account.reset_password"}),
    _door("cart", "RATE_LIMIT_CART", {"cart.add", "cart.update"}, POST),
    _door("checkout-start", "RATE_LIMIT_CHECKOUT", {"checkout.start"}, POST),
    # Pages and actions by checkout id. Only misses count: the shopper's own page polls its
    # status every 2 s, a guesser meets 404s.
    _door(
        "checkout-by-id",
        "RATE_LIMIT_ORDER_LOOKUP",
        {
            "checkout.review",
            "checkout.countdown",
            "checkout.status",
            "checkout.extend",
            "checkout.confirm_prices",
            "checkout.shipping",
            "checkout.remove_discount",
        },
        misses_only=True,
    ),
    # Every try of a discount code counts: guessing codes, whatever the answer.
    _door("discount-code", "RATE_LIMIT_CHECKOUT", {"checkout.apply_discount"}, POST),
    _door(
        "pay",
        "RATE_LIMIT_PAY",
        {
            "checkout.pay",
            "checkout.retry",
            "testpay.approve",
            "testpay.decline",
            "razorpay_pay.pay_page",
        },
    ),
    # Back from the provider: a bucket of its own (one visit per payment is the norm); each
    # visit asks the provider, so it is limited too.
    _door("provider-return", "RATE_LIMIT_PAY", {"checkout.returned"}),
    _door("search", "RATE_LIMIT_SEARCH", {"shop.search"}),
    _door(
        "order-lookup",
        "RATE_LIMIT_ORDER_LOOKUP",
        {"orders.show", "orders.cancel", "orders.request_return"},
    ),
    # "Send me a new link" for a guest order (it sends an email).
    _door("order-link", "RATE_LIMIT_ORDER_LOOKUP", {"orders.request_link"}, POST),
    # Generous: providers retry in bursts, and every event is signature-checked.
    _door("webhook", "RATE_LIMIT_WEBHOOK", {"webhooks.receive"}, POST),
)


# Every endpoint at some door: a request elsewhere (a catalogue page, a product photo) skips
# the limiter's work altogether.
AT_A_DOOR = frozenset().union(*(door.endpoints for door in DOORS))


def door_for(endpoint: str | None) -> Door | None:
    return next((door for door in DOORS if endpoint in door.endpoints), None)


def _limit_of(door: Door) -> str:
    """The door's limit for this request, or "" (none) when the request is not at the door."""
    if request.endpoint not in door.endpoints:
        return ""
    return current_app.config.get(door.setting) or ""


def _missed(response) -> bool:
    return response.status_code == 404


def _enabled(config) -> bool:
    """Our switch and Flask-Limiter's own: either one off turns every limit off."""
    return bool(config.get("RATE_LIMIT_ENABLED", True) and config.get("RATELIMIT_ENABLED", True))


def _not_limited() -> bool:
    """Switched off, or a request at no door."""
    return request.endpoint not in AT_A_DOOR or not _enabled(current_app.config)


def _limit(door: Door) -> Limit:
    return Limit(
        limit_provider=partial(_limit_of, door),
        scope=door.name,
        shared=True,
        methods=door.methods,
        deduct_when=_missed if door.misses_only else None,
    )


def check_settings(config) -> None:
    """Refuse to start on a limit Flask-Limiter cannot read, naming the setting."""
    for setting in sorted({door.setting for door in DOORS}):
        value = config.get(setting)
        try:
            if value:
                parse_many(value)
        except ValueError as exc:
            raise ConfigError(
                f"{setting}={value!r} is not a rate limit: write it like "
                f'"10 per minute" or "10 per minute; 60 per hour" (or leave it empty for none)'
            ) from exc


def storage_uri(config) -> str:
    if not _enabled(config):
        return "memory://"
    return config.get("RATELIMIT_STORAGE_URI") or config.get("REDIS_URL") or "memory://"


def init_app(app: Flask) -> Limiter:
    """Give ``app`` a limiter of its own with every door of ``DOORS``."""
    check_settings(app.config)
    uri = storage_uri(app.config)
    options = {}
    if urlsplit(uri).scheme in ("redis", "rediss"):
        options = {
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
        }
    limiter = Limiter(
        get_remote_address,
        default_limits=[_limit(door) for door in DOORS],
        storage_uri=uri,
        storage_options=options,
        in_memory_fallback_enabled=True,
        headers_enabled=True,
        # Flask-Limiter would put Retry-After on every limited answer, a 200 or a database's
        # 503 (stretching its 2 s to the window's end) too. Retry-After is the 429 page's own
        # (error_pages.rate_limited); the others carry the same figure as X-RateLimit-*.
        header_name_mapping={HeaderNames.RETRY_AFTER: "X-RateLimit-Retry-After"},
        swallow_errors=True,  # a storage failure is logged, never a 500
    )
    limiter.request_filter(_not_limited)
    limiter.init_app(app)
    _quiet_storage_tracebacks(limiter.logger)
    app.extensions[EXTENSION] = limiter
    app.teardown_request(_StorageWatch(limiter, uri))
    return limiter


class _StorageErrorsInOneLine(logging.Filter):
    """Flask-Limiter logs a storage failure it swallows with its whole traceback. Requests that
    meet Redis down at the same instant all fail; the first switches to memory, the others
    find it switched and log that traceback. The outage is told once, in one line, by
    ``_StorageWatch``: these become one-line warnings naming the error."""

    def filter(self, record: logging.LogRecord) -> bool:
        from redis.exceptions import RedisError

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, RedisError | OSError):
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
            record.args = ()
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _quiet_storage_tracebacks(logger: logging.Logger) -> None:
    if not any(isinstance(f, _StorageErrorsInOneLine) for f in logger.filters):
        logger.addFilter(_StorageErrorsInOneLine())


def limiter_of(app: Flask) -> Limiter:
    return app.extensions[EXTENSION]


def _redacted(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password:
        parts = parts._replace(netloc=f"***@{parts.hostname}:{parts.port or ''}".rstrip(":"))
    return parts.geturl()


class _StorageWatch:
    """Logs once when the limiter falls back to memory, and once when its storage is back.
    (Flask-Limiter keeps the state in ``_storage_dead``; its own log line goes to a logger
    nobody configures.)"""

    def __init__(self, limiter: Limiter, uri: str) -> None:
        self.limiter = limiter
        self.uri = _redacted(uri)
        self.down = False

    def __call__(self, exc: BaseException | None = None) -> None:
        down = bool(getattr(self.limiter, "_storage_dead", False))
        if down == self.down:
            return
        self.down = down
        if down:
            log.warning(
                "rate limit storage %s is unreachable: counting in memory, per process, "
                "until it answers again",
                self.uri,
            )
        else:
            log.warning("rate limit storage %s is back: counting there again", self.uri)


def retry_after_seconds(exc: RateLimitExceeded) -> int:
    """Seconds until the breached limit lets this client in again (at least 1)."""
    current = limiter_of(current_app).current_limit
    if current is not None:
        return max(1, int(current.reset_at - time.time()))
    return max(1, exc.limit.limit.get_expiry())


def wait_phrase(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    if seconds < 2 * 3600:
        minutes = math.ceil(seconds / 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{math.ceil(seconds / 3600)} hours"
