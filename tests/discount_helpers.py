"""Discount codes for tests, and shoppers racing for a code's uses with real threads and real
processes (the same harness as the stock-hold races in tests/integration/test_holds_concurrency:
a session per thread, an engine per process, a barrier to start them together)."""

from __future__ import annotations

import multiprocessing
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from app.db import Database
from app.models import Checkout, CheckoutState
from app.services.discounts import codes, rules, uses
from tests.race_helpers import OncePerProcess

TTL = timedelta(minutes=15)


def make_code(session, code: str = "FIRST10", **kwargs):
    kwargs.setdefault("value", 1000)
    return codes.create_code(session, code, **kwargs)


def make_checkout(session, email: str = "shopper@example.com") -> int:
    checkout = Checkout(
        public_id=secrets.token_hex(8),
        owner_key=secrets.token_hex(8),
        state=CheckoutState.RESERVED,
        phase="reserved",
        currency="USD",
        total_cents=5000,
        expires_at=datetime.now(UTC) + TTL,
        email=email,
        full_name="Test Shopper",
        address_line1="1 Test Street",
        city="Testville",
        postal_code="12345",
        country="US",
    )
    session.add(checkout)
    session.commit()
    return checkout.id


def shop(session_factory, code: str, shopper: str, barrier) -> tuple[str, str]:
    """One shopper: wait for the others, then apply the code and pay."""
    session = session_factory()
    try:
        barrier.wait(timeout=60)
        use = uses.hold_use(session, code, None, shopper, datetime.now(UTC) + TTL)
        uses.commit_use(session, use.hold_id)
        return "committed", use.shopper_key
    except rules.DiscountError as refused:
        return "refused", refused.message
    finally:
        session.close()


def race_threads(app, act: Callable[[object, int, object], tuple[str, str]], shoppers: int):
    """``act(session_factory, n, barrier)`` for shoppers ``n`` in as many threads."""
    factory = app.extensions["holdfast.db"].session_factory
    barrier = threading.Barrier(shoppers)
    results: list[tuple[str, str]] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        outcome = act(factory, n, barrier)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(shoppers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == shoppers, "a shopper never finished"
    return results


def _process_shoppers(url, code, process, threads, barrier, queue) -> None:  # spawned process
    database = Database(url)
    inner = threading.Barrier(threads)
    once = OncePerProcess(barrier)
    results = []

    def run(n: int) -> None:
        inner.wait(timeout=60)
        shopper = f"p{process}-t{n}@example.com"
        results.append(shop(database.session_factory, code, shopper, once))

    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    database.dispose()
    queue.put(results)


def race_processes(url: str, code: str, processes: int = 4, threads: int = 10):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_process_shoppers, args=(url, code, n, threads, barrier, queue))
        for n in range(processes)
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


def race_crowd(app, code: str, shoppers: int, threads: int = 20) -> list[tuple[str, str]]:
    """``shoppers`` shoppers for ``code`` through ``threads`` threads started together: each
    thread serves its share one after another, as a worker pool serves a queue of requests."""
    per_thread = -(-shoppers // threads)

    def serve(factory, n, barrier):
        outcomes = []
        for k in range(n * per_thread, min(shoppers, (n + 1) * per_thread)):
            outcomes.append(
                shop(
                    factory, code, f"crowd{k}@example.com", _NO_WAIT if k % per_thread else barrier
                )
            )
        return outcomes

    batches = race_threads(app, serve, threads)
    return [outcome for batch in batches for outcome in batch]


class _Immediate:
    def wait(self, timeout=None) -> None:
        return None


_NO_WAIT = _Immediate()
