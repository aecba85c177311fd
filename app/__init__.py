"""Holdfast: a self-hosted storefront that never oversells.

``create_app`` builds an application; nothing runs at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from .config import check_payment_providers, load_config
from .db import PoolSettings, Timeouts, close_session, get_session


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if os.environ.get("HOLDFAST_ENV", "development") != "production" and not (overrides or {}).get(
        "TESTING"
    ):
        from dotenv import load_dotenv

        load_dotenv(Path(app.root_path).parent / ".env", override=False)

    app.config.update(load_config(app.instance_path))
    if overrides:
        app.config.update(overrides)
    check_payment_providers(app.config)

    from app.services import transactions

    app.extensions["holdfast.db"] = transactions.open_database(
        app.config["DATABASE_URL"],
        Timeouts.from_config(app.config),
        PoolSettings.from_config(app.config),
    )
    app.teardown_appcontext(_finish_session)

    transactions.configure(app.config.get("DB_RETRY_ATTEMPTS", transactions.ATTEMPTS))

    from . import input_guard

    input_guard.install(app)  # before the blueprints: their <int:…> rules use its converter
    _init_extensions(app)
    _register_blueprints(app)

    from .error_pages import register_error_handlers
    from .templating import register_templating

    register_error_handlers(app)
    register_templating(app)

    from .cli import register_cli

    register_cli(app)
    return app


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
    from .extensions import csrf, htmx, limiter, login_manager
    from .models import User

    csrf.init_app(app)
    htmx.init_app(app)
    app.config.setdefault("RATELIMIT_ENABLED", app.config["RATE_LIMIT_ENABLED"])
    limiter.init_app(app)

    login_manager.init_app(app)
    login_manager.login_view = "account.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        from flask import g

        if not user_id.isdigit() or len(user_id) > 10 or g.get("db_down"):
            return None  # the 503 page of a database outage is rendered anonymous
        user = get_session().get(User, int(user_id))
        return user if user is not None and user.active else None


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
