"""Error pages: every error a visitor can cause answers a styled 4xx page (or JSON for JSON
clients and HTMX fragments for swaps), never a bare 500. A database that is busy, restarting
or unreachable answers 503 with ``Retry-After`` and a page that says to try again; so does a
payment provider that is not configured or cannot be reached."""

from __future__ import annotations

import time

from flask import Flask, current_app, g, jsonify, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from app.services import transactions

from . import rate_limits
from .input_guard import UnsafeInput, ValueTooLong
from .providers import ProviderError, UnknownProvider
from .services.errors import DomainError
from .services.transactions import TransientDatabaseError
from .web import render_page

# After the database was found unreachable, answer 503 at once for this long instead of
# making every request wait for its own connect timeout (then try the database again).
OUTAGE_SECONDS = 2.0
# (/health/ready and /metrics check for themselves, and say what is down.)
NEEDS_NO_DATABASE = {"health.check", "health.live", "health.ready", "metrics.scrape", "static"}


def database_is_down() -> bool:
    return time.monotonic() < getattr(current_app.extensions["holdfast.db"], "down_until", 0.0)


def _mark_database_down() -> None:
    current_app.extensions["holdfast.db"].down_until = time.monotonic() + OUTAGE_SECONDS
    g.db_down = True


def _discard_session() -> None:
    """The request's session may sit on a broken connection: start the error page afresh."""
    from .db import close_session

    close_session()


MESSAGES = {
    400: "That request could not be understood.",
    401: "Please log in first.",
    403: "You do not have access to that page.",
    404: "We could not find that page.",
    405: "That page does not accept this kind of request.",
    409: "That could not be done right now.",
    413: "That upload is too large.",
    422: "Some of what you sent is not valid.",
    429: "Too many requests. Please wait a moment and try again.",
    500: "Something went wrong on our side. Nothing was changed; please try again.",
    503: "The shop is very busy right now. Nothing was changed; please try again in a moment.",
}
RETRY_AFTER_SECONDS = 2


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.path.startswith(("/health", "/webhooks", "/api")) or (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_response(
    status: int,
    message: str | None = None,
    retry_after: int | None = None,
    template: str = "errors/error.html",
):
    message = message or MESSAGES.get(status, "Something went wrong.")
    if _wants_json():
        response = jsonify({"error": message, "status": status})
        response.status_code = status
    else:
        response = render_page(template, block="error", status=status, code=status, message=message)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def busy_response(kind: str):
    """503 for a database that could not do it now (counted by ``services.transactions``)."""
    return error_response(503, TransientDatabaseError(kind).message, RETRY_AFTER_SECONDS)


def refuse_during_an_outage():
    if database_is_down() and request.endpoint not in NEEDS_NO_DATABASE:
        g.db_down = True
        return busy_response("unavailable")
    return None


def retry_after(response):
    """Every 503 (a busy database refused in place by a view, too) says when to retry."""
    if response.status_code == 503:
        response.headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return response


def csrf_error(exc: CSRFError):
    return error_response(
        400, "Your form expired or was not sent from this shop. Reload the page and try again."
    )


def domain_error(exc: DomainError):
    if isinstance(exc, TransientDatabaseError) and exc.kind in ("unavailable", "connection_lost"):
        _mark_database_down()
    return error_response(exc.status_code, exc.message, getattr(exc, "retry_after", None))


def database_error(exc: DBAPIError | PoolTimeout):
    _discard_session()
    kind = transactions.classify(exc)
    if kind is None:
        current_app.logger.exception("database error on %s %s", request.method, request.path)
        return error_response(500)
    if kind in ("unavailable", "connection_lost"):
        _mark_database_down()
    transactions.give_up(kind, f"{request.method} {request.url_rule or request.path}", exc)
    return busy_response(kind)


def provider_error(exc: ProviderError):
    current_app.logger.warning(
        "payment provider unavailable on %s %s: %s", request.method, request.path, exc.message
    )
    return error_response(
        503,
        "That way of paying is not available right now. Nothing was "
        "charged; please try again later or choose another.",
        RETRY_AFTER_SECONDS,
    )


def unknown_provider(exc: UnknownProvider):
    current_app.logger.error("payment provider misconfigured: %s", exc)
    return error_response(
        503,
        "That way of paying is not available right now. Nothing was "
        "charged; please choose another.",
        RETRY_AFTER_SECONDS,
    )


def rate_limited(exc: RateLimitExceeded):
    """429 from a door's limit (app/rate_limits.py): when to come back, in words and header."""
    seconds = rate_limits.retry_after_seconds(exc)
    message = (
        f"Too many requests from your address. Try again in {rate_limits.wait_phrase(seconds)}."
    )
    return error_response(429, message, seconds, template="errors/429.html")


def http_error(exc: HTTPException):
    status = exc.code or 500
    ours = isinstance(exc, UnsafeInput | ValueTooLong)
    message = exc.description if ours else MESSAGES.get(status, exc.description)
    response = error_response(status, message)
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def unexpected(exc: Exception):
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500)


HANDLERS = (
    (CSRFError, csrf_error),
    (DomainError, domain_error),
    (DBAPIError, database_error),
    (PoolTimeout, database_error),
    (RateLimitExceeded, rate_limited),
    (ProviderError, provider_error),
    (UnknownProvider, unknown_provider),
    (HTTPException, http_error),
    (Exception, unexpected),
)


def register_error_handlers(app: Flask) -> None:
    app.before_request(refuse_during_an_outage)
    app.after_request(retry_after)
    for error, handler in HANDLERS:
        app.register_error_handler(error, handler)
