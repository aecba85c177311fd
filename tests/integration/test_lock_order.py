"""No deadlock by construction: every pair of lock-taking paths, raced in two processes on
Postgres, meets no deadlock and leaves every invariant holding.

The paths (``tests/lock_paths.py``) are the shop's own: checkout start and re-submit (each
checkout with a limited discount code applied), extend, a code removed and applied again,
pay, completion, late payment, cancel, refund with restock, returns, stock adjust with
``--force``, key import and back-order filling, the sweep, and a cart change. Two worker
processes, each with its own engine, start at the same instant on items that share rows.

A deadlock is looked for twice: Postgres's own count (``pg_stat_database.deadlocks``, read after
the workers' connections have closed) and the app's count of transient errors it retried.
"""

from __future__ import annotations

import itertools
import multiprocessing
import time
import traceback

import pytest
from sqlalchemy import create_engine, text

from app.services.checks import invariants as verify
from tests.conftest import make_test_app
from tests.lock_paths import DOUBLE_CLICKS, PATHS, Context, make_world

pytestmark = pytest.mark.slow

NAMES = list(PATHS)
PAIRS = list(itertools.combinations_with_replacement(NAMES, 2))


def _worker(url: str, name: str, conn) -> None:  # runs in a spawned process
    from app import metrics
    from app.services.errors import DomainError

    app = make_test_app(f"{url}?application_name={name}")
    database = app.extensions["holdfast.db"]
    ctx = Context(database.session_factory, dict(app.config))
    conn.send("ready")
    while True:
        task = conn.recv()
        if task is None:
            break
        path_name, world, items, start_at = task
        path = PATHS.get(path_name) or DOUBLE_CLICKS[path_name]
        before = metrics.snapshot()
        done = refused = 0
        errors: list[str] = []
        time.sleep(max(0.0, start_at - time.time()))
        for item in items:
            session = database.session_factory()
            try:
                path.run(ctx, session, world, item)
                done += 1
            except DomainError:
                refused += 1
            except Exception:  # noqa: BLE001 - reported to the test, which fails on it
                errors.append(traceback.format_exc(limit=6))
            finally:
                session.close()
        database.engine.dispose()  # testpay's sessions share it: one engine per process
        conn.send(
            {"done": done, "refused": refused, "errors": errors, "counters": metrics.delta(before)}
        )
    database.dispose()


@pytest.fixture(scope="module")
def workers(pg_migrated):
    ctx = multiprocessing.get_context("spawn")
    pool = []
    for n in (1, 2):
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_worker, args=(pg_migrated, f"holdfast-race-{n}", child), daemon=True
        )
        proc.start()
        pool.append((proc, parent))
    for _proc, conn in pool:
        assert conn.poll(60), "a race worker did not start"
        assert conn.recv() == "ready"
    yield [conn for _proc, conn in pool]
    for proc, conn in pool:
        conn.send(None)
        proc.join(timeout=30)


def _deadlocks(url: str) -> int:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the workers' backends report their stats on exit
            busy = conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE "
                    "'holdfast-race-%'"
                )
            )
            if not busy:
                break
            time.sleep(0.05)
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        count = conn.scalar(
            text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        )
    engine.dispose()
    return int(count)


def _race(workers, url: str, tasks: list[tuple[str, object, list]]) -> list[dict]:
    """Send each worker its task at one start instant; assert neither failed nor deadlocked."""
    deadlocks_before = _deadlocks(url)
    start_at = time.time() + 0.15
    for conn, (name, world, items) in zip(workers, tasks, strict=True):
        conn.send((name, world, items, start_at))
    results = []
    for conn in workers:
        assert conn.poll(180), "a race worker never finished"
        results.append(conn.recv())
    errors = [e for r in results for e in r["errors"]]
    assert not errors, "\n".join(errors[:3])
    assert _deadlocks(url) == deadlocks_before, "Postgres detected a deadlock"
    retried = {k: v for r in results for k, v in r["counters"].items() if "deadlock" in k}
    assert not retried, f"deadlocks were retried: {retried}"
    assert sum(r["done"] for r in results) > 0, results
    return results


@pytest.fixture(scope="module")
def shop_app(pg_migrated):
    """One app for the module's builders (its engine is closed before each race)."""
    app = make_test_app(pg_migrated)
    yield app
    app.extensions["holdfast.db"].dispose()


def _build(shop_app, build) -> tuple[object, object]:
    """A fresh world and the items ``build(ctx, session, world)`` makes on it; no connection
    is left open for the race."""
    database = shop_app.extensions["holdfast.db"]
    ctx = Context(database.session_factory, dict(shop_app.config))
    session = database.session_factory()
    try:
        world = make_world(session)
        return world, build(ctx, session, world)
    finally:
        session.close()
        database.engine.dispose()


def _verified(shop_app, check=None, items=None) -> None:
    session = shop_app.extensions["holdfast.db"].session_factory()
    try:
        if check is not None:
            check(session, items)
        assert verify.check_all(session) == []
    finally:
        session.close()
        shop_app.extensions["holdfast.db"].engine.dispose()


@pytest.mark.parametrize("first,second", PAIRS, ids=[f"{a}-vs-{b}" for a, b in PAIRS])
def test_two_paths_racing_on_the_same_rows_never_deadlock(
    first, second, workers, shop_app, pg_migrated, request
):
    request.getfixturevalue("_truncated_pg")
    world, items = _build(
        shop_app,
        lambda ctx, session, world: [
            PATHS[name].build(ctx, session, world, PATHS[name].items) for name in (first, second)
        ],
    )
    _race(workers, pg_migrated, [(first, world, items[0]), (second, world, items[1])])
    _verified(shop_app)


@pytest.mark.parametrize("name", list(DOUBLE_CLICKS))
def test_a_double_click_raced_in_two_processes_is_one_action(
    name, workers, shop_app, pg_migrated, request
):
    """Both processes act on the same items at the same instant, as a double-clicked button
    does: one cancellation, one payment, one refund each, and both clicks succeed."""
    request.getfixturevalue("_truncated_pg")
    click = DOUBLE_CLICKS[name]
    world, items = _build(
        shop_app, lambda ctx, session, world: click.build(ctx, session, world, click.items)
    )
    results = _race(workers, pg_migrated, [(name, world, items), (name, world, items)])
    assert [r["done"] for r in results] == [click.items, click.items], results
    _verified(shop_app, click.check, items)
