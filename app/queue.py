"""Running work outside the request: on RQ when ``REDIS_URL`` is set, otherwise right here.

``enqueue`` is called after the caller's commit (jobs take ids, never uncommitted rows).
Without Redis, ``background=True`` work runs in a daemon thread (used for calls that must not
run inside the request that caused them, such as testpay's webhook POST back to this server),
and everything else runs inline.

Redis being down is no reason to stop selling: when a job cannot be queued, ``enqueue`` logs
it, counts it (``queue.fallback``) and runs the work as it would without Redis. For a few
seconds after a failure it does not try Redis again (each try would cost a connect timeout).
What is not done then is still in the database, and the periodic jobs catch up on it: the
outbox, webhook events still ``received``, payments that never reported back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry

from app import metrics

log = logging.getLogger("holdfast.queue")

QUEUE = "default"
QUEUES = (QUEUE,)  # every queue a worker listens to
RETRY = Retry(max=5, interval=[10, 30, 60, 300, 900])
SKIP_REDIS_AFTER_FAILURE_SECONDS = 5.0
_connections: dict[str, Redis] = {}
_lock = threading.Lock()
_redis_down_until = 0.0


def connection(redis_url: str) -> Redis:
    """One client (and connection pool) per process and URL, failing fast when Redis is gone."""
    with _lock:
        client = _connections.get(redis_url)
        if client is None:
            client = Redis.from_url(
                redis_url, socket_connect_timeout=1, socket_timeout=2, health_check_interval=30
            )
            _connections[redis_url] = client
        return client


def queue(redis_url: str, name: str = QUEUE) -> Queue:
    return Queue(name, connection=connection(redis_url))


def enqueue(
    config: Mapping[str, Any],
    job: Callable[..., Any],
    *args: Any,
    inline: Callable[[], Any] | None = None,
    background: bool = False,
    retry: Retry | None = RETRY,
) -> Any:
    """Run ``job(*args)`` on RQ, or without Redis (or with Redis down) run ``inline``
    (default: the job itself) now, in a thread when ``background``."""
    global _redis_down_until
    redis_url = config.get("REDIS_URL")
    if redis_url and time.monotonic() >= _redis_down_until:
        try:
            return queue(redis_url).enqueue(job, *args, retry=retry)
        except RedisError as exc:
            _redis_down_until = time.monotonic() + SKIP_REDIS_AFTER_FAILURE_SECONDS
            metrics.incr("queue.fallback")
            log.warning(
                json.dumps(
                    {"event": "queue.fallback", "job": job.__name__, "error": type(exc).__name__}
                )
            )
    elif redis_url:
        metrics.incr("queue.fallback")
    work = inline or (lambda: job(*args))
    if background:
        thread = threading.Thread(target=work, daemon=True, name=f"holdfast-{job.__name__}")
        thread.start()
        return thread
    return work()
