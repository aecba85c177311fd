"""Engines and sessions.

One engine per process and database URL. SQLite runs in WAL mode with a busy timeout: reads
start a plain (deferred) transaction, so readers never block anyone, and every service that
writes calls :func:`begin_write` first, which starts its transaction with ``BEGIN IMMEDIATE`` so
writers queue for the lock instead of failing or losing updates (SQLAlchemy's documented pysqlite
recipe). A flush in a read transaction on SQLite is refused loudly: it would be a deferred
upgrade, which SQLite answers with "database is locked" under concurrency. On Postgres the
psycopg 3 driver is used and row locks are taken explicitly by the services that need them,
through ``services.locks`` (one order, ``FOR NO KEY UPDATE``), which checks every session.

No request waits for a minute: Postgres connections carry a ``lock_timeout``, a
``statement_timeout`` and an ``idle_in_transaction_session_timeout``; SQLite's busy timeout is
the same lock timeout. A transaction that hits one (or a deadlock, a serialization failure, a
dropped connection) is retried by ``services.transactions.unit_of_work`` or answered 503.

Request code gets its session from :func:`get_session` (one per request, closed on teardown);
CLI commands, jobs and tests open their own with ``session_factory()``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


@dataclass(frozen=True)
class PoolSettings:
    """Connections one process keeps to Postgres (``DB_POOL_SIZE``, ``DB_MAX_OVERFLOW``,
    ``DB_POOL_TIMEOUT_SECONDS``; docs/CONFIGURATION.md says what N servers need)."""

    size: int = 4
    max_overflow: int = 4
    timeout_seconds: float = 10.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PoolSettings:
        return cls(
            int(config.get("DB_POOL_SIZE", cls.size)),
            int(config.get("DB_MAX_OVERFLOW", cls.max_overflow)),
            float(config.get("DB_POOL_TIMEOUT_SECONDS", cls.timeout_seconds)),
        )


@dataclass(frozen=True)
class Timeouts:
    """How long one statement may wait for a lock, run, or sit idle inside a transaction
    (milliseconds; ``DB_LOCK_TIMEOUT_MS`` and friends, docs/CONFIGURATION.md)."""

    lock_ms: int = 5_000
    statement_ms: int = 15_000
    idle_in_transaction_ms: int = 60_000

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Timeouts:
        return cls(
            int(config.get("DB_LOCK_TIMEOUT_MS", cls.lock_ms)),
            int(config.get("DB_STATEMENT_TIMEOUT_MS", cls.statement_ms)),
            int(config.get("DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", cls.idle_in_transaction_ms)),
        )


_ENGINES: dict[tuple[str, Timeouts, PoolSettings], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def shared_engine(
    url: str, timeouts: Timeouts = Timeouts(), pool: PoolSettings = PoolSettings()
) -> Engine:
    """One engine (one pool) per process for a database and its settings: every app object,
    job and provider of the process shares it, so a process never holds more connections than
    its pool allows."""
    key = (url, timeouts, pool)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = make_engine(url, timeouts=timeouts, pool=pool)
        return engine


def make_engine(
    url: str,
    *,
    for_migrations: bool = False,
    timeouts: Timeouts = Timeouts(),
    pool: PoolSettings = PoolSettings(),
    **kwargs: Any,
) -> Engine:
    """Create an engine. ``for_migrations`` leaves out the SQLite hooks (Alembic's batch table
    copy must run without foreign keys enforced and without BEGIN IMMEDIATE) and the statement
    timeout (a migration may rightly take long)."""
    if is_sqlite(url):
        connect_args = {"timeout": timeouts.lock_ms / 1000, "check_same_thread": False}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        if not for_migrations:
            _install_sqlite_hooks(engine, timeouts)
        return engine
    options = [f"-c lock_timeout={timeouts.lock_ms}"]
    if not for_migrations:
        options += [
            f"-c statement_timeout={timeouts.statement_ms}",
            f"-c idle_in_transaction_session_timeout={timeouts.idle_in_transaction_ms}",
        ]
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("options", " ".join(options))
    connect_args.setdefault("connect_timeout", 5)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", pool.size)
    kwargs.setdefault("max_overflow", pool.max_overflow)
    kwargs.setdefault("pool_timeout", pool.timeout_seconds)
    return create_engine(url, connect_args=connect_args, **kwargs)


def _install_sqlite_hooks(engine: Engine, timeouts: Timeouts) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every SQLite test
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(timeouts.lock_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - exercised by every SQLite test
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE_OPTION) else "BEGIN")


WRITE_OPTION = "holdfast_write"


def begin_write(session: Session) -> None:
    """Make the session's current transaction a write transaction.

    Ends a read-only transaction the session may have open (nothing is lost: it only read) and
    starts the next one with ``BEGIN IMMEDIATE`` on SQLite. A no-op when the session is already
    writing, so services can call services.
    """
    if session.in_transaction():
        if session.connection().get_execution_options().get(WRITE_OPTION):
            return
        session.commit()
    session.connection(execution_options={WRITE_OPTION: True})


def _refuse_deferred_sqlite_writes(session: Session, _ctx, _instances) -> None:
    if not (session.new or session.dirty or session.deleted):
        return
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return
    options = conn.get_execution_options()
    if not options.get(WRITE_OPTION) and options.get("isolation_level") != "AUTOCOMMIT":
        raise RuntimeError("write in a read transaction: call db.begin_write(session) first")


class Database:
    """The engine and session factory of one app, stored in ``app.extensions['holdfast.db']``."""

    def __init__(
        self,
        url: str,
        timeouts: Timeouts = Timeouts(),
        session_hooks: Iterable[Callable[[sessionmaker], None]] = (),
        pool: PoolSettings = PoolSettings(),
    ) -> None:
        """``session_hooks`` each get the session factory to listen on (the app's are the
        lock-order check and the commit watch: ``services.transactions.open_database``)."""
        self.url = url
        self.engine = shared_engine(url, timeouts, pool)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        if is_sqlite(url):
            event.listen(self.session_factory, "before_flush", _refuse_deferred_sqlite_writes)
        for hook in session_hooks:
            hook(self.session_factory)

    def dispose(self) -> None:
        """Close the pooled connections (the engine stays usable and opens new ones)."""
        self.engine.dispose()


def get_db() -> Database:
    return current_app.extensions["holdfast.db"]


def get_session() -> Session:
    """The current request's (or CLI command's) session, created on first use."""
    if "db_session" not in g:
        g.db_session = get_db().session_factory()
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    """Close the request's session. Never raises: a connection the server dropped (a restart)
    fails its rollback; it is thrown away and the pool opens a new one next time."""
    session = g.pop("db_session", None)
    if session is None:
        return
    try:
        session.close()
    except SQLAlchemyError:
        with contextlib.suppress(SQLAlchemyError):
            session.invalidate()
