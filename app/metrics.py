"""Counters an operator reads to see what the app had to work around: database units of work
retried after a deadlock, a serialization failure, a lock timeout or a dropped connection,
and the ones given up (answered 503).

Counts are per process (each gunicorn worker, RQ worker or CLI command keeps its own) and are
also written as JSON log lines by the code that counts, so several processes add up in the
logs. ``snapshot`` and ``delta`` let a test or a benchmark read what one piece of work did.
"""

from __future__ import annotations

import threading
from collections import Counter

_lock = threading.Lock()
_counts: Counter[str] = Counter()


def incr(name: str, amount: int = 1) -> None:
    with _lock:
        _counts[name] += amount


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def delta(before: dict[str, int]) -> dict[str, int]:
    """What was counted since ``before`` (a ``snapshot()``), leaving out what did not move."""
    now = snapshot()
    return {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}
