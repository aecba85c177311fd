"""One clock for the whole shop: timezone-aware UTC, always.

Services take ``now`` so that tests move time instead of sleeping: ``clock.now(given)`` is that
time, or the current one when none is given, and refuses a naive datetime (a time without its
zone is a bug: the database stores UTC and compares it with aware times)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def now(given: datetime | None = None) -> datetime:
    if given is None:
        return utcnow()
    if given.tzinfo is None or given.utcoffset() is None:
        raise ValueError("now must be timezone-aware (UTC); use clock.utcnow()")
    return given
