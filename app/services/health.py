"""Health checks: the database must answer; Redis, when configured, is reported."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, text

VERSION = "0.1.0"


def _timed(fn) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - any failure is reported, never raised
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"status": "ok", "ms": round((time.perf_counter() - start) * 1000, 2)}


def check(engine: Engine, redis_url: str | None) -> dict[str, Any]:
    def db() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    checks: dict[str, Any] = {"database": _timed(db)}
    if redis_url:
        from redis import Redis

        def ping() -> None:
            Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1).ping()

        checks["redis"] = _timed(ping)
    else:
        checks["redis"] = {"status": "not configured"}
    if checks["database"]["status"] != "ok":
        status = "unhealthy"
    elif checks["redis"]["status"] == "error":
        status = "degraded"
    else:
        status = "healthy"
    return {"status": status, "version": VERSION, "checks": checks}
