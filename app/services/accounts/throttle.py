"""Log-in throttling: failed log-ins slow down one (email as typed, client address) pair.

The first ``free_failures`` failures of a pair cost nothing; each one after that doubles the
wait before the pair's next try is even checked (1 s, 2 s, 4 s, … up to ``max_delay``). The
key is the SHA-256 of the normalized email and the address, so an unknown email slows down
exactly as a real account does (nothing to enumerate), and someone failing from another
address never delays the owner's. A success clears the pair.

Counting is one upsert (``INSERT … ON CONFLICT DO UPDATE … RETURNING``) on Postgres and SQLite
alike: concurrent failures each add one, and the wait is set under the row's lock in the same
transaction. Rows untouched for a day are pruned by ``prune_throttles``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app import clock
from app.db import begin_write
from app.models import LoginThrottle
from app.services.transactions import unit_of_work

FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Policy:
    free_failures: int = 5
    max_delay_seconds: int = 900

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Policy:
        return cls(
            free_failures=int(config.get("LOGIN_FREE_FAILURES", cls.free_failures)),
            max_delay_seconds=int(config.get("LOGIN_MAX_DELAY_SECONDS", cls.max_delay_seconds)),
        )

    def delay(self, failures: int) -> timedelta | None:
        """The wait after ``failures`` failures in a row: none while they are free, then
        1 s, 2 s, 4 s, … capped at ``max_delay_seconds``."""
        over = failures - self.free_failures
        if over <= 0:
            return None
        return timedelta(seconds=min(2 ** min(over - 1, 30), self.max_delay_seconds))


def key_for(email: str, address: str) -> str:
    """The pair's key: SHA-256 of the normalized email and the client address."""
    normalized = email.strip().lower()
    return hashlib.sha256(f"{normalized}|{address}".encode()).hexdigest()


def waiting_until(session: Session, key: str, now: datetime | None = None) -> datetime | None:
    """When the pair may try again, if it must wait now (a read; no lock)."""
    now = clock.now(now)
    until = session.scalar(select(LoginThrottle.next_try_at).where(LoginThrottle.key_hash == key))
    return until if until is not None and until > now else None


def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def count_failure(session: Session, key: str, policy: Policy, now: datetime) -> int:
    """Add one failure to the pair in the caller's write transaction; set its wait. Returns
    the pair's failures in a row (a row untouched for a day starts again from one)."""
    begin_write(session)
    stale = LoginThrottle.updated_at < now - FORGET_AFTER
    stmt = (
        _insert(session)(LoginThrottle)
        .values(key_hash=key, failures=1, next_try_at=None, updated_at=now)
        .on_conflict_do_update(
            index_elements=[LoginThrottle.key_hash],
            set_={
                "failures": case((stale, 1), else_=LoginThrottle.failures + 1),
                "updated_at": now,
            },
        )
        .returning(LoginThrottle.failures)
    )
    failures = session.execute(stmt).scalar_one()
    delay = policy.delay(failures)
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key_hash == key)
        .values(next_try_at=now + delay if delay else None)
    )
    return failures


@unit_of_work
def record_failure(
    session: Session, key: str, policy: Policy, *, now: datetime | None = None
) -> int:
    """Count one failed log-in of the pair, in its own transaction."""
    failures = count_failure(session, key, policy, clock.now(now))
    session.commit()
    return failures


def clear(session: Session, key: str) -> None:
    """Forget the pair's failures (a good log-in), in the caller's write transaction."""
    begin_write(session)
    session.execute(delete(LoginThrottle).where(LoginThrottle.key_hash == key))


@unit_of_work
def prune_throttles(session: Session, now: datetime | None = None) -> int:
    """Delete pairs untouched for a day (for the sweep job); returns how many."""
    cutoff = clock.now(now) - FORGET_AFTER
    begin_write(session)
    gone = session.execute(delete(LoginThrottle).where(LoginThrottle.updated_at < cutoff))
    session.commit()
    return gone.rowcount or 0


@dataclass(frozen=True)
class Summary:
    """What the admin's security page shows: pairs seen failing in the last day."""

    pairs: int
    waiting: int
    failures: int


def summary(session: Session, now: datetime | None = None) -> Summary:
    now = clock.now(now)
    recent = LoginThrottle.updated_at >= now - FORGET_AFTER
    pairs, failures = session.execute(
        select(func.count(), func.coalesce(func.sum(LoginThrottle.failures), 0)).where(recent)
    ).one()
    waiting = session.scalar(
        select(func.count()).select_from(LoginThrottle).where(LoginThrottle.next_try_at > now)
    )
    return Summary(pairs=pairs, waiting=waiting or 0, failures=int(failures))


def clear_all(session: Session) -> int:
    """Forget every pair's failures and waits (the admin's "clear"), in the caller's write
    transaction; returns how many."""
    begin_write(session)
    gone = session.execute(delete(LoginThrottle))
    return gone.rowcount or 0
