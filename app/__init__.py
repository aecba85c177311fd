"""Holdfast: a self-hosted storefront that never oversells.

``create_app`` builds an application; nothing runs at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from .config import check_startup, load_config
from .db import PoolSettings, Timeouts, close_session, get_session

DOTENV_ENVIRONMENTS = ("development", "test")


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if _reads_dotenv(overrides):
        from dotenv import load_dotenv

        load_dotenv(Path(app.root_path).parent / ".env", override=False)

    app.config.update(load_config(app.instance_path))
    if overrides:
        app.config.update(overrides)
    check_startup(app.config, debug=_debug_requested(app))
    _trust_proxies(app)

    from app.services import transactions

    app.extensions["holdfast.db"] = transactions.open_database(
        app.config["DATABASE_URL"],
        Timeouts.from_config(app.config),
        PoolSettings.from_config(app.config),
    )
    app.teardown_appcontext(_finish_session)

    transactions.configure(app.config.get("DB_RETRY_ATTEMPTS", transactions.ATTEMPTS))

    from . import input_guard, observability

    observability.install(app)  # logs, request ids, metrics, Sentry: first, around every request
    input_guard.install(app)  # before the blueprints: their <int:…> rules use its converter
    _init_extensions(app)
    _register_blueprints(app)

    from . import static_assets
    from .error_pages import register_error_handlers
    from .page_cache import register_page_cache
    from .templating import register_templating

    register_error_handlers(app)
    register_templating(app)
    register_page_cache(app)
    static_assets.install(app)  # fingerprinted /static/ names once `holdfast build-static` ran

    from . import alerting

    alerting.install(app)  # counts 5xx answers and refused webhooks for the alerts

    from .cli import register_cli

    register_cli(app)
    return app


def _reads_dotenv(overrides: dict[str, Any] | None) -> bool:
    """``.env`` is a laptop's convenience: never read in staging or production (their settings
    come from the service's environment), nor under the test suite's overrides."""
    environment = os.environ.get("HOLDFAST_ENV", os.environ.get("FLASK_ENV", "development"))
    return environment.strip().lower() in DOTENV_ENVIRONMENTS and not (overrides or {}).get(
        "TESTING"
    )


def _debug_requested(app: Flask) -> bool:
    """Flask's debug mode (``DEBUG``, ``FLASK_DEBUG``, ``flask --debug``) or Werkzeug's
    debugger (``flask run --debugger``): either puts the interactive console in reach."""
    import click
    from flask.helpers import get_debug_flag

    command = click.get_current_context(silent=True)
    debugger = command is not None and command.info_name == "run" and command.params.get("debugger")
    return bool(app.debug or get_debug_flag() or debugger)


def _trust_proxies(app: Flask) -> None:
    """Behind ``TRUSTED_PROXIES`` proxies, the client's address, scheme and host are the ones
    they forward (X-Forwarded-For/-Proto/-Host); with 0 those headers are ignored."""
    hops = app.config.get("TRUSTED_PROXIES", 0)
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def _finish_session(exc: BaseException | None = None) -> None:
    """Close the request's (or CLI command's) session; if it queued emails, send them now that
    they are committed (a CLI command waits for them, a request does not)."""
    from flask import current_app, g, has_request_context

    session = g.get("db_session")
    queued = bool(session is not None and session.info.pop("outbox_queued", False))
    close_session(exc)
    if queued and exc is None and current_app.config.get("MAIL_AUTO_DISPATCH", True):
        from app.jobs import dispatch_outbox

        thread = dispatch_outbox(current_app.config)
        if thread is not None and not has_request_context():
            thread.join(timeout=60)


def _init_extensions(app: Flask) -> None:
    from . import rate_limits
    from .extensions import csrf, htmx, login_manager
    from .models import User

    # First, so a door counts every knock (a request without a CSRF token, too).
    rate_limits.init_app(app)  # every door's limit, from the one table in app/rate_limits.py
    csrf.init_app(app)
    htmx.init_app(app)

    login_manager.init_app(app)
    login_manager.login_view = "account.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        """The session's id is "<user id>:<session version>"; an old version, a deactivated
        account or anything malformed is anonymous (services/accounts/sessions.py)."""
        from flask import g

        from .services.accounts import sessions

        if g.get("db_down"):
            return None  # the 503 page of a database outage is rendered anonymous
        return sessions.load(get_session(), user_id)


def _register_blueprints(app: Flask) -> None:
    from .blueprints.account import bp as account_bp
    from .blueprints.admin import bp as admin_bp
    from .blueprints.cart import bp as cart_bp
    from .blueprints.checkout import bp as checkout_bp
    from .blueprints.health import bp as health_bp
    from .blueprints.media import bp as media_bp
    from .blueprints.orders import bp as orders_bp
    from .blueprints.razorpay_pay import bp as razorpay_pay_bp
    from .blueprints.shop import bp as shop_bp
    from .blueprints.testpay import bp as testpay_bp
    from .blueprints.webhooks import bp as webhooks_bp

    for bp in (
        shop_bp,
        cart_bp,
        account_bp,
        checkout_bp,
        orders_bp,
        testpay_bp,
        razorpay_pay_bp,
        webhooks_bp,
        health_bp,
        media_bp,
        admin_bp,
    ):
        app.register_blueprint(bp)
    from .blueprints.seo import bp as seo_bp  # sitemap, robots.txt, the pages' <head> helpers

    app.register_blueprint(seo_bp)
