"""Running work outside the request: on RQ when ``REDIS_URL`` is set, otherwise right here.

``enqueue`` is called after the caller's commit (jobs take ids, never uncommitted rows).
Without Redis, ``background=True`` work runs in a daemon thread (used for calls that must not
run inside the request that caused them, such as testpay's webhook POST back to this server),
and everything else runs inline.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from redis import Redis
from rq import Queue, Retry

RETRY = Retry(max=5, interval=[10, 30, 60, 300, 900])


def queue(redis_url: str, name: str = "default") -> Queue:
    return Queue(name, connection=Redis.from_url(redis_url))


def enqueue(
    config: Mapping[str, Any],
    job: Callable[..., Any],
    *args: Any,
    inline: Callable[[], Any] | None = None,
    background: bool = False,
    retry: Retry | None = RETRY,
) -> Any:
    """Run ``job(*args)`` on RQ, or without Redis run ``inline`` (default: the job itself) now,
    in a thread when ``background``."""
    redis_url = config.get("REDIS_URL")
    if redis_url:
        return queue(redis_url).enqueue(job, *args, retry=retry)
    work = inline or (lambda: job(*args))
    if background:
        thread = threading.Thread(target=work, daemon=True, name=f"holdfast-{job.__name__}")
        thread.start()
        return thread
    return work()
