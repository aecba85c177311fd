"""A transient database error is never a 500: a deadlock, a lock timeout or a dropped
connection is retried (counted and logged); past the last attempt the shopper gets a 503 page
that says to try again, with Retry-After, and nothing changed. Each fault is real: a second
connection holds the lock, Postgres detects the deadlock, the server terminates the backend.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time

import pytest
from sqlalchemy import create_engine, event, func, select, text

from app import metrics
from app.models import CartLine, Reservation, Variant
from app.services.stock import holds
from tests.conftest import Browser, make_test_app
from tests.factories import bind, variant_with_stock


@pytest.fixture
def pg_app(_truncated_pg):
    app = make_test_app(_truncated_pg, DB_LOCK_TIMEOUT_MS=300)
    yield app
    app.extensions["holdfast.db"].dispose()


@pytest.fixture
def pg_db(pg_app):
    from sqlalchemy.orm import sessionmaker

    engine = pg_app.extensions["holdfast.db"].engine.execution_options(isolation_level="AUTOCOMMIT")
    session = sessionmaker(engine)()
    bind(session)
    yield session
    session.close()


def _hold_row_lock(url: str, table: str, row_id: int, seconds: float, locked: threading.Event):
    """Another connection locks a row for ``seconds``, then lets go."""
    engine = create_engine(url)
    with engine.connect() as conn:
        conn.execute(
            text(f"SELECT id FROM {table} WHERE id = :id FOR UPDATE"),  # noqa: S608
            {"id": row_id},
        )
        locked.set()
        time.sleep(seconds)
        conn.commit()
    engine.dispose()


def _holding(url, table, row_id, seconds):
    locked = threading.Event()
    thread = threading.Thread(target=_hold_row_lock, args=(url, table, row_id, seconds, locked))
    thread.start()
    assert locked.wait(10)
    return thread


def test_postgres_connections_carry_lock_and_statement_timeouts(pg_app):
    with pg_app.extensions["holdfast.db"].engine.connect() as conn:
        assert conn.scalar(text("SHOW lock_timeout")) == "300ms"
        assert conn.scalar(text("SHOW statement_timeout")) == "15s"
        assert conn.scalar(text("SHOW idle_in_transaction_session_timeout")) == "1min"


def test_a_lock_held_a_little_too_long_is_waited_out_by_a_retry(pg_app, pg_db, caplog):
    tee = variant_with_stock(pg_db, 5)
    browser = Browser(pg_app.test_client())
    before = metrics.snapshot()
    holder = _holding(pg_app.config["DATABASE_URL"], "variants", tee.id, 0.5)
    with caplog.at_level(logging.WARNING, logger="holdfast.db"):
        session = pg_app.extensions["holdfast.db"].session_factory()
        hold = holds.take_hold(session, [(tee.id, 2)])
        session.close()
    holder.join()
    assert hold.lines[0].quantity == 2
    assert metrics.delta(before).get("db.retry.lock_timeout", 0) >= 1
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "holdfast.db"]
    assert events and events[0]["event"] == "db.retry" and events[0]["unit"] == "holds.take_hold"
    assert browser  # the shopper's next page is unaffected


def test_a_lock_held_past_every_retry_is_a_503_that_says_try_again(pg_app, pg_db, caplog):
    tee = variant_with_stock(pg_db, 5)
    browser = Browser(pg_app.test_client())
    browser.get("/cart")
    before = metrics.snapshot()
    holder = _holding(pg_app.config["DATABASE_URL"], "variants", tee.id, 3.0)
    with caplog.at_level(logging.WARNING, logger="holdfast.db"):
        browser.client.get("/cart")
        response = browser.post("/cart/add", {"variant_id": tee.id, "quantity": 1})
    holder.join()
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body
    assert response.headers["Retry-After"] == "2"
    assert "Nothing was changed; please try again" in body
    assert pg_db.scalar(select(func.count(CartLine.id))) == 0
    counted = metrics.delta(before)
    assert counted.get("db.retry.lock_timeout") == 2
    assert counted.get("db.gave_up.lock_timeout") == 1
    assert any('"event": "db.gave_up"' in r.getMessage() for r in caplog.records)


def test_a_deadlock_is_retried_and_the_checkout_goes_through(pg_app, pg_db):
    """The app's transaction waits for a row another connection holds, and that connection
    then waits for the app's row: Postgres aborts the first waiter (the app), which retries."""
    a = variant_with_stock(pg_db, 5)
    b = variant_with_stock(pg_db, 5)
    url = pg_app.config["DATABASE_URL"]
    engine = create_engine(url)
    other = engine.connect()
    other.execute(text("SELECT id FROM variants WHERE id = :id FOR UPDATE"), {"id": b.id})
    before = metrics.snapshot()
    app_engine = pg_app.extensions["holdfast.db"].engine
    waiting = threading.Event()

    @event.listens_for(app_engine, "before_cursor_execute")
    def _note(conn, cursor, statement, params, context, executemany):
        if "FOR NO KEY UPDATE" in statement and "variants" in statement:
            waiting.set()

    def close_the_cycle():
        assert waiting.wait(10)
        time.sleep(0.2)  # the app is now waiting for b, holding a
        other.execute(text("SET lock_timeout = '10s'"))
        other.execute(text("SELECT id FROM variants WHERE id = :id FOR UPDATE"), {"id": a.id})
        other.commit()

    pg_app.config["DB_LOCK_TIMEOUT_MS"] = 10_000
    thread = threading.Thread(target=close_the_cycle)
    thread.start()
    session = pg_app.extensions["holdfast.db"].session_factory()
    session.connection().exec_driver_sql("SET lock_timeout = '10s'")
    session.commit()
    try:
        hold = holds.take_hold(session, [(a.id, 1), (b.id, 1)])
    finally:
        session.close()
        thread.join()
        other.close()
        engine.dispose()
        event.remove(app_engine, "before_cursor_execute", _note)
    assert [line.quantity for line in hold.lines] == [1, 1]
    assert metrics.delta(before).get("db.retry.deadlock") == 1


def test_a_connection_killed_mid_transaction_is_retried_on_a_new_one(pg_app, pg_db):
    tee = variant_with_stock(pg_db, 5)
    app_engine = pg_app.extensions["holdfast.db"].engine
    killer = create_engine(pg_app.config["DATABASE_URL"])
    killed = []

    @event.listens_for(app_engine, "before_cursor_execute")
    def _kill_once(conn, cursor, statement, params, context, executemany):
        if not killed and statement.lstrip().upper().startswith("INSERT INTO RESERVATIONS"):
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with killer.connect() as k:
                k.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            killed.append(pid)

    before = metrics.snapshot()
    session = pg_app.extensions["holdfast.db"].session_factory()
    try:
        hold = holds.take_hold(session, [(tee.id, 3)])
    finally:
        session.close()
        event.remove(app_engine, "before_cursor_execute", _kill_once)
        killer.dispose()
    assert killed
    assert metrics.delta(before).get("db.retry.connection_lost") == 1
    assert pg_db.scalar(select(func.count(Reservation.id))) == 1
    assert hold.lines[0].quantity == 3


def test_the_cli_waits_out_a_lock_and_explains_a_give_up(pg_app, pg_db):
    tee = variant_with_stock(pg_db, 5, sku="TEE-CLI")
    runner = pg_app.test_cli_runner()
    holder = _holding(pg_app.config["DATABASE_URL"], "variants", tee.id, 0.4)
    result = runner.invoke(args=["stock", "adjust", "TEE-CLI", "2", "--reason", "delivery"])
    holder.join()
    assert result.exit_code == 0, result.output
    holder = _holding(pg_app.config["DATABASE_URL"], "variants", tee.id, 3.0)
    result = runner.invoke(args=["stock", "adjust", "TEE-CLI", "1", "--reason", "delivery"])
    holder.join()
    assert result.exit_code == 1
    assert "please try again" in result.output and "Traceback" not in result.output
    pg_db.expire_all()
    assert pg_db.get(Variant, tee.id).on_hand == 7


def test_sqlite_busy_past_its_timeout_is_a_503(sqlite_url):
    app = make_test_app(sqlite_url, DB_LOCK_TIMEOUT_MS=200)
    from sqlalchemy.orm import sessionmaker

    engine = app.extensions["holdfast.db"].engine.execution_options(isolation_level="AUTOCOMMIT")
    db = sessionmaker(engine)()
    bind(db)
    tee = variant_with_stock(db, 5)
    browser = Browser(app.test_client())
    browser.get("/cart")
    blocker = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        response = browser.post("/cart/add", {"variant_id": tee.id, "quantity": 1})
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert db.scalar(select(func.count(CartLine.id))) == 0
    db.close()
    app.extensions["holdfast.db"].dispose()
