"""Units of work: one transaction each, retried when the database asks for it.

A *unit of work* is a service function that begins, does and commits one transaction and calls
nothing outside the database in between (a provider is never called inside one). Decorated with
:func:`unit_of_work`, it is run again, from the start and in a new transaction, when the
database refuses it for a reason that trying again can cure:

- ``deadlock`` (Postgres 40P01) — the lock order (``services.locks``) is meant to make this
  impossible; a retry still beats an error page, and it is counted so it is noticed;
- ``serialization_failure`` (40001);
- ``lock_timeout`` (55P03: a lock was not granted within ``DB_LOCK_TIMEOUT_MS``);
- ``connection_lost`` (the server closed the connection) — but never while committing: the
  commit may have happened, and a retry could do the work twice.

Up to ``ATTEMPTS`` tries (``DB_RETRY_ATTEMPTS``), with exponential backoff and full jitter
between them. Each retry and each give-up is a JSON log line (``holdfast.db`` logger) and a
counter (``app.metrics``: ``db.retry.<kind>``, ``db.gave_up.<kind>``). Giving up, or an error
that retrying cannot cure (``statement_timeout``, ``unavailable``, ``pool_timeout``, SQLite's
"database is locked" after its busy timeout), raises :class:`TransientDatabaseError`: a 503
page that says to try again, with ``Retry-After``, never a 500.

A unit called inside another unit's transaction, or with ``commit=False``, is part of the outer
one and is not retried on its own.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from app import metrics
from app.db import WRITE_OPTION, Database, PoolSettings, Timeouts
from app.services import locks
from app.services.errors import DomainError

log = logging.getLogger("holdfast.db")

ATTEMPTS = 3
BACKOFF_SECONDS = 0.05  # the first retry waits up to this long, the next twice as long, ...
RETRY_AFTER_SECONDS = 2

RETRYABLE = frozenset({"deadlock", "serialization_failure", "lock_timeout", "connection_lost"})
_SQLSTATES = {
    "40P01": "deadlock",
    "40001": "serialization_failure",
    "55P03": "lock_timeout",
    "57014": "statement_timeout",
    "57P01": "connection_lost",  # admin shutdown
    "57P02": "connection_lost",  # crash shutdown
    "57P03": "unavailable",  # cannot connect now (starting up)
    "25P03": "connection_lost",  # idle in transaction session timeout
}
_DEPTH = "holdfast.uow_depth"
_COMMITTING = "holdfast.committing"

P = ParamSpec("P")
R = TypeVar("R")


class TransientDatabaseError(DomainError):
    """The database could not do it just now (busy, restarting, unreachable). Nothing was
    changed by the refused transaction; trying again in a moment should work."""

    status_code = 503
    retry_after = RETRY_AFTER_SECONDS

    def __init__(self, kind: str, message: str | None = None) -> None:
        super().__init__(
            message
            or "The shop is very busy right now and could not do that. "
            "Nothing was changed; please try again in a moment."
        )
        self.kind = kind


def configure(attempts: int) -> None:
    global ATTEMPTS
    ATTEMPTS = max(1, int(attempts))


def classify(exc: BaseException) -> str | None:
    """What kind of transient database error ``exc`` is, or None if it is not one."""
    if isinstance(exc, TransientDatabaseError):
        return exc.kind
    if isinstance(exc, PoolTimeout):
        return "pool_timeout"  # every connection of this process is busy: answer, not wait
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in _SQLSTATES:
        return _SQLSTATES[sqlstate]
    if sqlstate and sqlstate.startswith("08"):
        return "connection_lost"
    if isinstance(orig, sqlite3.OperationalError):
        text = str(orig).lower()
        if "locked" in text or "busy" in text:
            return "database_locked"
        if "unable to open" in text or "disk i/o" in text:
            return "unavailable"
        return None
    if exc.connection_invalidated:
        return "connection_lost"
    if type(orig).__name__ == "OperationalError":  # psycopg: could not connect
        return "unavailable"
    return None


def _event(name: str, **fields: Any) -> None:
    log.warning(json.dumps({"event": name, **fields}, default=str))


def give_up(kind: str, unit: str, exc: BaseException | None = None) -> TransientDatabaseError:
    """Count and log a unit of work given up; the error to raise."""
    metrics.incr(f"db.gave_up.{kind}")
    _event(
        "db.gave_up",
        kind=kind,
        unit=unit,
        error=type(getattr(exc, "orig", exc)).__name__ if exc is not None else None,
    )
    return TransientDatabaseError(kind)


def _is_nested(session: Session, kwargs: dict[str, Any]) -> bool:
    if kwargs.get("commit") is False or session.info.get(_DEPTH, 0) > 0:
        return True
    if not session.in_transaction():
        return False
    return bool(session.connection().get_execution_options().get(WRITE_OPTION))


def unit_of_work(fn: Callable[P, R]) -> Callable[P, R]:
    """Retry ``fn(session, ...)`` on transient database errors (see the module docstring)."""
    unit = f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"

    @functools.wraps(fn)
    def run(session: Session, *args: Any, **kwargs: Any) -> Any:
        if _is_nested(session, kwargs):
            return fn(session, *args, **kwargs)
        attempt = 1
        while True:
            session.info[_DEPTH] = 1
            session.info[_COMMITTING] = False
            try:
                return fn(session, *args, **kwargs)
            except DomainError:
                _safe_rollback(session)  # a refusal leaves nothing open behind it
                raise
            except (DBAPIError, PoolTimeout) as exc:
                kind = classify(exc)
                committing = session.info.get(_COMMITTING, False)
                _safe_rollback(session)
                if kind is None:
                    raise
                if (
                    kind not in RETRYABLE
                    or attempt >= ATTEMPTS
                    or (kind == "connection_lost" and committing)
                ):
                    raise give_up(kind, unit, exc) from exc
                metrics.incr(f"db.retry.{kind}")
                _event("db.retry", kind=kind, unit=unit, attempt=attempt)
                time.sleep(random.uniform(0, BACKOFF_SECONDS * 2 ** (attempt - 1)))
                attempt += 1
            finally:
                session.info[_DEPTH] = 0

    return run  # type: ignore[return-value]


def _safe_rollback(session: Session) -> None:
    try:
        session.rollback()
    except DBAPIError:  # the connection is gone; the session starts over with a new one
        try:
            session.close()
        except DBAPIError:
            session.invalidate()


def open_database(
    url: str, timeouts: Timeouts = Timeouts(), pool: PoolSettings = PoolSettings()
) -> Database:
    """The app's database: sessions checked for the lock order (``services.locks``) and
    watched while committing (a connection lost then is never retried), on the process's one
    engine for the URL."""
    return Database(url, timeouts, session_hooks=(locks.install, install), pool=pool)


def install(session_factory) -> None:
    """Note when a session is committing (a dropped connection then is not retried)."""

    @event.listens_for(session_factory, "before_commit")
    def _before_commit(session: Session) -> None:
        session.info[_COMMITTING] = True

    @event.listens_for(session_factory, "after_commit")
    def _after_commit(session: Session) -> None:
        session.info[_COMMITTING] = False


@contextmanager
def owned_transaction(session: Session, commit: bool) -> Iterator[None]:
    """Commit on success when the service owns the transaction; roll back on any error so a
    refusal releases its locks (on SQLite, the database's write lock). Stock and discount
    services share it."""
    try:
        yield
        if commit:
            session.commit()
    except BaseException:
        if commit:
            session.rollback()
        raise
