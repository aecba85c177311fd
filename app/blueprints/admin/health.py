"""The admin's health page: the alerts open and lately resolved, database and migrations,
Redis and the queue, the sweeper, the outbox, memory and version."""

from __future__ import annotations

from flask import current_app

from app.db import get_session
from app.services.admin import health as health_service
from app.web import render_page

from .base import bp


@bp.get("/health")
def health():
    page = health_service.health_page(
        get_session(),
        current_app.extensions["holdfast.db"].engine,
        current_app.config.get("REDIS_URL"),
    )
    return render_page("admin/health.html", health=page)
