"""``GET /health``: JSON for load balancers and the deploy script; 503 when the database is
unreachable."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from app.extensions import csrf
from app.services.checks import health

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
