"""``GET /health``: JSON for load balancers and the deploy script; 503 when the database is
unreachable. ``/health/live`` and ``/health/ready`` for a supervisor and a deploy, and
``/health/detailed`` for staff (docs/OBSERVABILITY.md)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify
from flask_login import current_user

from app.db import get_session
from app.extensions import csrf
from app.services.admin.permissions import allowed
from app.services.checks import detailed, health, readiness

bp = Blueprint("health", __name__)


@bp.get("/health")
@csrf.exempt
def check():
    report = health.check(
        current_app.extensions["holdfast.db"].engine, current_app.config.get("REDIS_URL")
    )
    response = jsonify(report)
    response.status_code = 200 if report["status"] != "unhealthy" else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def _json(report: dict, status: int = 200):
    response = jsonify(report)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/health/live")
@csrf.exempt
def live():
    """The process answers: 200, always (no database, no Redis)."""
    return _json(readiness.live())


@bp.get("/health/ready")
@csrf.exempt
def ready():
    """Database, Redis when configured, schema at the migrations' head: 200, else 503 naming
    what is not ready (``deploy.sh`` waits for it after a deploy)."""
    report = readiness.ready(
        current_app.extensions["holdfast.db"].engine, current_app.config.get("REDIS_URL")
    )
    return _json(report, 200 if report["status"] == "ready" else 503)


@bp.get("/health/detailed")
def detailed_report():
    """For staff and owners only; everyone else gets the 404 the admin gives them."""
    if not current_user.is_authenticated or not allowed(current_user.role, "view"):
        abort(404)
    return _json(
        detailed.detailed(
            get_session(),
            current_app.extensions["holdfast.db"].engine,
            current_app.config.get("REDIS_URL"),
        )
    )
