"""What an operator sees of a running shop: log lines, request ids, request metrics, Sentry.

``install(app)`` (called by ``create_app``):

- **Logs** (``app.logs``): JSON lines in staging and production, readable text elsewhere
  (``LOG_FORMAT``, ``LOG_LEVEL``). Not under the test suite (``TESTING``): pytest captures logs
  its own way.
- **Request id**: the ``X-Request-ID`` a proxy sent (nginx's ``$request_id``) when it is short
  and plain (letters, digits, ``.``, ``_``, ``-``; at most 64), else a new random one. It is on
  every log line written while the request is answered, on Sentry's events, and sent back as
  ``X-Request-ID`` on every response, error pages included.
- **One access line per request** (logger ``holdfast.access``, INFO): method, path (without the
  query string, and a route's ``<token>`` shown as ``<token>``), status, milliseconds, endpoint.
- **Request metrics** (``app.metrics``): a counter by method, endpoint and status class, and a
  latency histogram by endpoint; ``GET /metrics`` (``app.blueprints.metrics``) serves them.
- **Sentry** when ``SENTRY_DSN`` is set (``start_sentry``); nothing of it is imported otherwise.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, g, request
from flask.logging import default_handler

from . import logs, metrics

HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
access_log = logging.getLogger("holdfast.access")
_sentry_dsn: str | None = None  # the DSN this process's Sentry client was started with


def install(app: Flask) -> None:
    if not app.testing:
        logs.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
        app.logger.removeHandler(default_handler)  # the root logger's handler writes its lines
    sentry = start_sentry(app.config)
    app.extensions["holdfast.sentry"] = sentry
    # First of all: every other hook (the rate limiter's, the outage check's) and every error
    # page already runs under the request's id.
    app.before_request_funcs.setdefault(None, []).insert(
        0, _begin_with_sentry if sentry else _begin
    )
    app.after_request(_finish)  # registered first, so it runs last: it sees the final status
    app.teardown_request(_end)

    from .blueprints.metrics import bp as metrics_bp

    app.register_blueprint(metrics_bp)


# ---------------------------------------------------------------- per request


def new_request_id() -> str:
    return os.urandom(16).hex()


def _begin() -> None:
    incoming = request.headers.get(HEADER)
    rid = incoming if incoming and SANE_REQUEST_ID.fullmatch(incoming) else new_request_id()
    g.request_id = rid
    g.request_started = time.perf_counter()
    logs.request_id.set(rid)


def _begin_with_sentry() -> None:
    import sentry_sdk

    _begin()
    sentry_sdk.set_tag("request_id", g.request_id)


def _finish(response):
    rid = g.get("request_id")
    if rid is None:  # a response made before any hook ran
        rid = g.request_id = new_request_id()
    response.headers[HEADER] = rid
    started = g.get("request_started")
    seconds = time.perf_counter() - started if started is not None else 0.0
    endpoint = request.endpoint or "unmatched"
    status = response.status_code
    method = request.method if request.method in METHODS else "other"
    metrics.HTTP_REQUESTS.labels(method, endpoint, f"{status // 100}xx").inc()
    metrics.HTTP_SECONDS.labels(endpoint).observe(seconds)
    if access_log.isEnabledFor(logging.INFO):
        _access_line(method, endpoint, status, seconds)
    return response


def _access_line(method: str, endpoint: str, status: int, seconds: float) -> None:
    path = request.path
    token = (request.view_args or {}).get("token")
    if isinstance(token, str) and token:
        path = path.replace(token, "<token>")
    ms = round(seconds * 1000, 1)
    access_log.info(
        "%s %s %s %.1f ms",
        method,
        path,
        status,
        ms,
        extra={"method": method, "path": path, "status": status, "ms": ms, "endpoint": endpoint},
    )


def _end(_exc: BaseException | None = None) -> None:
    logs.request_id.set(None)


# ---------------------------------------------------------------- Sentry


def start_sentry(config: Mapping[str, Any]) -> bool:
    """Start Sentry's client once per process (per DSN) when ``SENTRY_DSN`` is set: Flask's
    and RQ's integrations, no personal data (no cookies, request bodies, local variables, user
    details or addresses). Errors the shop answers with its 500 page reach Sentry through the
    error log line ``error_pages`` writes (Sentry's logging integration keeps the exception)."""
    global _sentry_dsn
    dsn = config.get("SENTRY_DSN")
    if not dsn:
        return False
    if dsn == _sentry_dsn:
        return True
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.rq import RqIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=config.get("ENV_NAME"),
        release=f"holdfast@{app_version()}",
        # send_default_pii stays False by being left out: sentry-sdk 2.76 deprecates passing it,
        # and unset means False (its event scrubber then filters cookies, sessions, tokens).
        max_request_body_size="never",
        include_local_variables=False,
        traces_sample_rate=config.get("SENTRY_TRACES_SAMPLE_RATE", 0.0),
        integrations=[FlaskIntegration(transaction_style="url"), RqIntegration()],
        before_send=scrub_event,
    )
    _sentry_dsn = dsn
    return True


PRIVATE_HEADERS = frozenset({"cookie", "authorization", "x-csrftoken", "x-forwarded-for"})


def scrub_event(event: dict, _hint: dict | None = None) -> dict:
    """Whatever the SDK's defaults, no cookie, body, private header or user detail leaves."""
    req = event.get("request") or {}
    for key in ("cookies", "data", "env"):
        req.pop(key, None)
    headers = req.get("headers")
    if isinstance(headers, dict):
        for name in [n for n in headers if n.lower() in PRIVATE_HEADERS]:
            del headers[name]
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if "id" in user else {}
    return event


def app_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("holdfast")
    except metadata.PackageNotFoundError:
        return "unknown"
