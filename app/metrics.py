"""What the shop counts, for an operator: Prometheus counters served at ``GET /metrics``
(``app.blueprints.metrics``; docs/OBSERVABILITY.md lists them), and the in-process counters of
what the app had to work around (database units of work retried after a deadlock, a
serialization failure, a lock timeout or a dropped connection, the ones given up, the queue's
fallbacks).

Counting is cheap and needs no request: services call ``incr`` or the functions below (a lock
and an add; under gunicorn a write to a memory-mapped file). A count about rows (a hold taken, a
checkout ended, holds swept) is made when the session's transaction commits, never for work a
retry or a rollback undid (``on_commit``).

Several processes: with ``PROMETHEUS_MULTIPROC_DIR`` set before this module is imported
(``gunicorn.conf.py`` sees to it), every process writes its counts to files there and
``exposition`` adds them up, so a scrape that reaches one gunicorn worker sees all of them.
``incr``'s names are also kept per process (``snapshot``/``delta``), for tests and benchmarks,
and the code that counts writes them as JSON log lines too.
"""

from __future__ import annotations

import os
import threading
from collections import Counter

from prometheus_client import Counter as PromCounter
from prometheus_client import Histogram
from sqlalchemy import event
from sqlalchemy.orm import Session

_lock = threading.Lock()
_counts: Counter[str] = Counter()

HTTP_REQUESTS = PromCounter(
    "holdfast_http_requests",
    "Requests answered, by method, endpoint (the route's name) and status class (2xx…5xx).",
    ["method", "endpoint", "status"],
)
HTTP_SECONDS = Histogram(
    "holdfast_http_request_duration_seconds",
    "Time the app took to answer, by endpoint.",
    ["endpoint"],
    buckets=(0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
HOLDS_TAKEN = PromCounter("holdfast_holds_taken", "Holds taken (committed).")
HOLDS_REFUSED = PromCounter(
    "holdfast_holds_refused", "Holds refused, by reason (insufficient_stock).", ["reason"]
)
HOLD_LINES_SWEPT = PromCounter(
    "holdfast_hold_lines_swept",
    "Hold lines (one per variant of a hold) the sweeper marked expired.",
)
CHECKOUTS_ENDED = PromCounter(
    "holdfast_checkouts_ended",
    "Checkouts that ended, by outcome: paid, failed, expired, abandoned (cancelled).",
    ["outcome"],
)
WEBHOOKS = PromCounter(
    "holdfast_webhooks",
    "Payment webhooks, by provider and result (received, duplicate, invalid_signature, "
    "malformed, unverified when taken in; processed, ignored, failed, retry when acted on).",
    ["provider", "result"],
)
EVENTS = PromCounter(
    "holdfast_app_events",
    "What the app worked around, by event: db.retry.<kind>, db.gave_up.<kind>, "
    "queue.fallback, locks.order_violation.",
    ["event"],
)

# A checkout's final state → the outcome it is counted as.
OUTCOMES = {"completed": "paid", "failed": "failed", "expired": "expired", "cancelled": "abandoned"}


def incr(name: str, amount: int = 1) -> None:
    with _lock:
        _counts[name] += amount
    EVENTS.labels(name).inc(amount)


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def delta(before: dict[str, int]) -> dict[str, int]:
    """What was counted since ``before`` (a ``snapshot()``), leaving out what did not move."""
    now = snapshot()
    return {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}


# ---------------------------------------------------------------- counts made at commit

_PENDING = "holdfast.metrics.pending"


def on_commit(session: Session, counter, amount: float = 1) -> None:
    """Add ``amount`` to ``counter`` (a metric or a labelled child) once ``session``'s
    transaction commits; forget it if the transaction ends any other way. (Something that is
    no SQLAlchemy session, a test's stand-in, has no transaction to wait for.)"""
    info = getattr(session, "info", None)
    if info is None:
        counter.inc(amount)
    else:
        info.setdefault(_PENDING, []).append((counter, amount))


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    for counter, amount in session.info.pop(_PENDING, ()):
        counter.inc(amount)


@event.listens_for(Session, "after_transaction_end")
def _forget_uncommitted(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def hold_taken(session: Session) -> None:
    on_commit(session, HOLDS_TAKEN)


def hold_refused(reason: str) -> None:
    HOLDS_REFUSED.labels(reason).inc()


def hold_lines_swept(session: Session, count: int) -> None:
    if count:
        on_commit(session, HOLD_LINES_SWEPT, count)


def checkout_ended(session: Session, state: str) -> None:
    """``state``: the checkout's new state's value; only final ones count."""
    outcome = OUTCOMES.get(state)
    if outcome is not None:
        on_commit(session, CHECKOUTS_ENDED.labels(outcome))


def webhook(provider: str, result: str) -> None:
    WEBHOOKS.labels(provider, result).inc()


# ---------------------------------------------------------------- exposition


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(outbox: dict[str, int] | None = None) -> bytes:
    """The text exposition of every counter (all processes' in multiprocess mode), and the
    outbox's backlog when given (read from the database by the caller at scrape time)."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    text = generate_latest(registry)
    if outbox is not None:
        family = GaugeMetricFamily(
            "holdfast_outbox_messages",
            "Emails waiting in the outbox, by state (read from the database at scrape time).",
            labels=["state"],
        )
        for state, count in sorted(outbox.items()):
            family.add_metric([state], count)
        gauges = CollectorRegistry()
        gauges.register(_Fixed([family]))
        text += generate_latest(gauges)
    return text


class _Fixed:
    """A collector of metric families read once (for one scrape)."""

    def __init__(self, families) -> None:
        self.families = families

    def collect(self):
        return iter(self.families)
