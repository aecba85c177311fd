"""Liveness and readiness, for load balancers and ``deploy.sh``.

- **live**: the process answers; nothing else is asked (a database outage must not get every
  web process restarted).
- **ready**: this process can serve the shop: the database answers, Redis answers when it is
  configured, and the database's schema is at the migrations' head this code expects. What is
  not ready is named, nothing more (no host, revision or error text: those go to the log).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from app.services.admin.health import migrations
from app.services.checks import health


def live() -> dict[str, Any]:
    return {"status": "alive"}


def ready(engine: Engine, redis_url: str | None) -> dict[str, Any]:
    report = health.check(engine, redis_url)
    checks: dict[str, Any] = dict(report["checks"])
    checks["migrations"] = {
        "status": _schema(engine) if "database" not in report["down"] else "unknown"
    }
    not_ready = [name for name, check in checks.items() if check["status"] not in _READY]
    return {
        "status": "not ready" if not_ready else "ready",
        "not_ready": not_ready,
        "version": report["version"],
        "checks": checks,
    }


_READY = ("ok", "not configured")


def _schema(engine: Engine) -> str:
    state = migrations(engine)
    if state.head is None:
        return "unknown"
    return "ok" if state.up_to_date else "not at head"
