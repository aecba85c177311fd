"""Buyers racing for the same stock, with real threads and real processes, on an SQLite file and
on Postgres. Each buyer has its own session (threads) or its own engine (processes); a barrier
starts them together. Nothing here sleeps."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.models import HoldState, Reservation
from app.services.checks import invariants as verify
from app.services.stock import holds, ledger
from tests.factories import variant_with_stock
from tests.race_helpers import OncePerProcess

BUYERS = 50


def _buy(session_factory, lines, barrier) -> tuple[str, object]:
    """One buyer: wait for the others, then try to hold ``lines``."""
    session = session_factory()
    try:
        barrier.wait(timeout=60)
        hold = holds.take_hold(session, lines)
        return "held", hold.ref
    except ledger.InsufficientStock as refused:
        return "refused", refused.shortfalls
    finally:
        session.close()


def race_threads(app, lines, buyers: int = BUYERS) -> list[tuple[str, object]]:
    """``lines``: one buyer's cart lines, or a function of the buyer's number giving them."""
    factory = app.extensions["holdfast.db"].session_factory
    barrier = threading.Barrier(buyers)
    results: list[tuple[str, object]] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        outcome = _buy(factory, lines(n) if callable(lines) else lines, barrier)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(buyers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == buyers, "a buyer never finished"
    return results


def _process_buyer(url, lines, threads, barrier, queue) -> None:  # runs in a spawned process
    database = Database(url)
    inner = threading.Barrier(threads)
    results = []

    def run() -> None:
        inner.wait(timeout=60)  # this process's threads are ready ...
        results.append(_buy(database.session_factory, lines, OncePerProcess(barrier)))

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    database.dispose()
    queue.put(
        [
            (kind, detail if kind == "held" else [s.available for s in detail])
            for kind, detail in results
        ]
    )


def race_processes(url, lines, processes: int = 5, threads: int = 10) -> list[tuple[str, object]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_process_buyer, args=(url, lines, threads, barrier, queue))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    results = []
    for _ in procs:
        results.extend(queue.get(timeout=120))
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return results


def held_units(db, variant_id: int) -> int:
    return db.scalar(
        select(func.coalesce(func.sum(Reservation.quantity), 0)).where(
            Reservation.variant_id == variant_id, Reservation.state == HoldState.ACTIVE
        )
    )


def test_fifty_buyers_racing_for_ten_units_get_exactly_ten_holds(app, db):
    v = variant_with_stock(db, 10)
    results = race_threads(app, {v.id: 1})
    outcomes = Counter(kind for kind, _ in results)
    assert outcomes == {"held": 10, "refused": 40}
    left = {shortfalls[0].available for kind, shortfalls in results if kind == "refused"}
    assert left == {0}
    assert held_units(db, v.id) == 10
    assert verify.check_all(db) == []


def test_fifty_buyers_racing_for_the_last_unit_get_exactly_one_hold(app, db):
    v = variant_with_stock(db, 1)
    results = race_threads(app, {v.id: 1})
    assert Counter(kind for kind, _ in results) == {"held": 1, "refused": 49}
    assert held_units(db, v.id) == 1


def test_buyers_of_three_are_refused_with_the_quantity_left(app, db):
    v = variant_with_stock(db, 10)
    results = race_threads(app, {v.id: 3}, buyers=20)
    assert Counter(kind for kind, _ in results) == {"held": 3, "refused": 17}
    refusals = [shortfalls[0] for kind, shortfalls in results if kind == "refused"]
    assert {(s.requested, s.available) for s in refusals} == {(3, 1)}
    assert "Only 1 of" in refusals[0].describe()


def test_two_cart_lines_of_one_variant_cannot_together_exceed_stock_under_a_race(app, db):
    v = variant_with_stock(db, 10)
    results = race_threads(app, [(v.id, 2), (v.id, 2)], buyers=20)
    assert Counter(kind for kind, _ in results) == {"held": 2, "refused": 18}
    assert held_units(db, v.id) == 8


def test_buyers_racing_for_several_variants_never_deadlock_nor_oversell(app, db):
    a = variant_with_stock(db, 7)
    b = variant_with_stock(db, 7)
    # Half list the variants one way round, half the other: one lock order keeps them moving.
    results = race_threads(
        app, lambda n: [(a.id, 1), (b.id, 1)] if n % 2 else [(b.id, 1), (a.id, 1)], buyers=20
    )
    assert sum(1 for kind, _ in results if kind == "held") == 7
    assert (held_units(db, a.id), held_units(db, b.id)) == (7, 7)
    assert verify.check_all(db) == []


def test_fifty_buyers_in_five_processes_racing_for_ten_units_get_exactly_ten(app, db, database_url):
    v = variant_with_stock(db, 10)
    app.extensions["holdfast.db"].dispose()
    results = race_processes(database_url, {v.id: 1})
    assert Counter(kind for kind, _ in results) == {"held": 10, "refused": 40}
    assert {left[0] for kind, left in results if kind == "refused"} == {0}
    assert held_units(db, v.id) == 10
    assert verify.check_all(db) == []


def test_five_processes_racing_for_the_last_unit_get_exactly_one_hold(app, db, database_url):
    v = variant_with_stock(db, 1)
    results = race_processes(database_url, {v.id: 1}, processes=5, threads=4)
    assert Counter(kind for kind, _ in results) == {"held": 1, "refused": 19}
    assert held_units(db, v.id) == 1


def test_racing_buyers_see_an_expired_hold_as_free_stock_without_a_sweep(app, db):
    from datetime import UTC, datetime, timedelta

    v = variant_with_stock(db, 5)
    session = app.extensions["holdfast.db"].session_factory()
    past = datetime.now(UTC) - timedelta(minutes=30)
    holds.take_hold(session, {v.id: 5}, ttl_minutes=15, now=past)  # expired 15 minutes ago
    session.close()
    results = race_threads(app, {v.id: 1}, buyers=20)
    assert Counter(kind for kind, _ in results) == {"held": 5, "refused": 15}
    assert verify.check_all(db) == []


@pytest.fixture(autouse=True)
def _no_leaked_connections(app):
    yield
    app.extensions["holdfast.db"].dispose()
