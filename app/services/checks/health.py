"""Health checks: the database must answer; Redis, when configured, is reported.

The answer names what is down and nothing else: no host, port, user or error text (those go to
the log, for the operator), so a load balancer or a stranger learns only which dependency is
unwell.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import Engine, text

VERSION = "0.1.0"
log = logging.getLogger("holdfast.health")


def _timed(name: str, fn) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - any failure is reported, never raised
        log.warning("health: %s is down: %s: %s", name, type(exc).__name__, exc)
        return {"status": "down"}
    return {"status": "ok", "ms": round((time.perf_counter() - start) * 1000, 2)}


def check(engine: Engine, redis_url: str | None) -> dict[str, Any]:
    def db() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    checks: dict[str, Any] = {"database": _timed("database", db)}
    if redis_url:
        from redis import Redis

        def ping() -> None:
            Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1).ping()

        checks["redis"] = _timed("redis", ping)
    else:
        checks["redis"] = {"status": "not configured"}
    down = [name for name, check in checks.items() if check["status"] == "down"]
    if "database" in down:
        status = "unhealthy"
    elif down:
        status = "degraded"
    else:
        status = "healthy"
    return {"status": status, "down": down, "version": VERSION, "checks": checks}
