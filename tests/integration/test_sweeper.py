"""The hold sweeper: bounded batches, several at once, a record of every run, and the RQ job
that runs it on a schedule (a real worker process against the local Redis)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from app.db import begin_write
from app.models import HoldState, Reservation, SweepRun
from app.services.checks import invariants as verify
from app.services.stock import holds, inventory, sweeper
from tests.factories import variant_with_stock

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.fixture
def session(app):
    s = app.extensions["holdfast.db"].session_factory()
    yield s
    s.close()


def states(db) -> dict[str, int]:
    rows = db.execute(select(Reservation.state, func.count()).group_by(Reservation.state)).all()
    return {state.value: n for state, n in rows}


def expired_holds(db, variant_id: int, count: int, at: datetime = T0) -> None:
    """``count`` one-unit holds whose deadline is ``at`` (inserted directly: fast)."""
    db.execute(
        insert(Reservation),
        [
            {
                "hold_ref": f"old{i:06d}",
                "variant_id": variant_id,
                "quantity": 1,
                "backorder_quantity": 0,
                "state": HoldState.ACTIVE,
                "created_at": at - timedelta(minutes=15),
                "expires_at": at,
                "extensions": 0,
            }
            for i in range(count)
        ],
    )
    db.commit()


def test_the_sweeper_marks_only_holds_past_their_deadline(session, db):
    v = variant_with_stock(db, 10)
    old = holds.take_hold(session, {v.id: 2}, ttl_minutes=15, now=T0)
    live = holds.take_hold(session, {v.id: 2}, ttl_minutes=15, now=minutes(10))
    released = holds.take_hold(session, {v.id: 1}, ttl_minutes=1, now=T0)
    sold = holds.take_hold(session, {v.id: 1}, ttl_minutes=1, now=T0)
    holds.release_hold(session, released.ref, now=T0)
    holds.commit_hold(session, sold.ref, now=T0)
    before = inventory.availability_of(session, v.id, now=minutes(20)).available

    result = sweeper.sweep_expired_holds(session, now=minutes(20))

    assert result.expired == 1
    assert holds.get_hold(session, old.ref).state is HoldState.EXPIRED
    assert holds.get_hold(session, live.ref, now=minutes(20)).state is HoldState.ACTIVE
    assert states(db) == {"expired": 1, "active": 1, "released": 1, "committed": 1}
    row = db.scalars(select(Reservation).where(Reservation.hold_ref == old.ref)).one()
    assert row.expired_at == minutes(15)
    assert inventory.availability_of(session, v.id, now=minutes(20)).available == before
    assert verify.check_all(db, now=minutes(20)) == []


def test_every_sweep_records_when_it_ran_and_what_it_did(session, db):
    v = variant_with_stock(db, 1)
    expired_holds(db, v.id, 7)
    first = sweeper.sweep_expired_holds(session, now=minutes(1), batch_size=3, trigger="test")
    second = sweeper.sweep_expired_holds(session, now=minutes(1), batch_size=3)
    assert (first.expired, first.batches, second.expired, second.batches) == (7, 3, 0, 0)
    runs = db.scalars(select(SweepRun).order_by(SweepRun.id)).all()
    assert [(r.trigger, r.expired_count, r.batches) for r in runs] == [
        ("test", 7, 3),
        ("cli", 0, 0),
    ]
    assert all(r.finished_at is not None and r.finished_at >= r.started_at for r in runs)
    assert sweeper.last_sweep(session).id == runs[-1].id


def test_a_sweep_stops_after_its_batch_limit_and_the_next_one_finishes(session, db):
    v = variant_with_stock(db, 1)
    expired_holds(db, v.id, 10)
    first = sweeper.sweep_expired_holds(session, now=minutes(1), batch_size=4, max_batches=2)
    assert (first.expired, first.batches) == (8, 2)
    assert sweeper.sweep_expired_holds(session, now=minutes(1), batch_size=4).expired == 2
    assert states(db) == {"expired": 10}


def test_several_sweepers_at_once_expire_each_hold_exactly_once(app, db):
    v = variant_with_stock(db, 1)
    expired_holds(db, v.id, 400)
    factory = app.extensions["holdfast.db"].session_factory
    barrier = threading.Barrier(4)
    results: list[sweeper.SweepResult] = []

    def sweep() -> None:
        s = factory()
        try:
            barrier.wait(timeout=30)
            results.append(sweeper.sweep_expired_holds(s, now=minutes(1), batch_size=25))
        finally:
            s.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 4
    assert sum(r.expired for r in results) == 400
    assert states(db) == {"expired": 400}


def test_a_postgres_sweeper_skips_holds_a_checkout_has_locked_instead_of_waiting(
    app, db, database_url
):
    if not database_url.startswith("postgresql"):
        pytest.skip(reason="SKIP LOCKED is a Postgres behaviour; SQLite serialises whole writers")
    v = variant_with_stock(db, 1)
    expired_holds(db, v.id, 5)
    checkout = app.extensions["holdfast.db"].session_factory()
    begin_write(checkout)
    checkout.execute(
        select(Reservation.id).where(Reservation.hold_ref == "old000000").with_for_update()
    )
    try:
        other = app.extensions["holdfast.db"].session_factory()
        result = sweeper.sweep_expired_holds(other, now=minutes(1))
        other.close()
        assert result.expired == 4
    finally:
        checkout.rollback()
        checkout.close()
    assert states(db) == {"expired": 4, "active": 1}


# ---------------------------------------------------------------- the RQ job


@pytest.fixture
def job_redis_url(redis_url):
    """A Redis database of these tests' own (db 13), emptied before and after."""
    from redis import Redis

    url = redis_url.rsplit("/", 1)[0] + "/13"
    connection = Redis.from_url(url)
    connection.flushdb()
    yield url
    connection.flushdb()
    connection.close()


def test_the_sweep_is_scheduled_every_configured_interval():
    from app.jobs import register_schedule, sweep_holds

    calls = []
    register_schedule(
        lambda func, **kw: calls.append((func, kw)), {"HOLD_SWEEP_INTERVAL_MINUTES": "7"}
    )
    assert calls[0] == (sweep_holds, {"queue_name": "default", "interval": 420})
    names = {func.__name__ for func, _ in calls}
    assert {
        "expire_checkouts",
        "reconcile_payments",
        "retry_fulfilment",
        "send_outbox_job",
        "forget_old_sign_ins",
    } <= names


def test_the_sweep_job_runs_in_a_real_worker_from_the_cron_schedule(
    app, db, database_url, job_redis_url
):
    from redis import Redis
    from rq.cron import CronScheduler

    from app.jobs import register_schedule

    v = variant_with_stock(db, 1)
    expired_holds(db, v.id, 3, at=datetime.now(UTC) - timedelta(minutes=1))
    app.extensions["holdfast.db"].dispose()

    cron = CronScheduler(connection=Redis.from_url(job_redis_url))
    cron.load_config_from_file("cron_config")
    assert [job.interval for job in cron._cron_jobs][0] == 300  # the sweep, first
    # Every periodic job is due at once; the worker runs them all against this database.
    scheduled = []
    register_schedule(lambda func, **kw: scheduled.append(func), {})
    assert len(cron.enqueue_jobs()) == len(cron._cron_jobs) == len(scheduled) >= 9

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": job_redis_url,
        "HOLDFAST_ENV": "development",
        "MAIL_FILE_DIR": tempfile.mkdtemp(prefix="holdfast-mail-"),
    }
    done = subprocess.run(
        [sys.executable, "worker.py", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    run = db.scalars(select(SweepRun)).one()
    assert (run.trigger, run.expired_count) == ("rq", 3)
    assert states(db) == {"expired": 3}


def test_the_sweep_job_is_safe_to_run_twice(database_url, db, monkeypatch):
    from app import jobs

    v = variant_with_stock(db, 1)
    expired_holds(db, v.id, 2, at=datetime.now(UTC) - timedelta(minutes=1))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert jobs.sweep_holds()["expired"] == 2
    assert jobs.sweep_holds()["expired"] == 0
    assert states(db) == {"expired": 2}
