"""Shoppers racing for a limited code's uses, with real threads and real processes, on an
SQLite file and on Postgres: each applies the code (a hold) and pays (commit). A code limited to
N uses is used exactly N times, however many race for it. Nothing here sleeps."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.models import DiscountCode, DiscountHold, DiscountHoldState
from app.services.checks import invariants as verify
from app.services.discounts import rules, uses
from tests.discount_helpers import (
    TTL,
    make_code,
    race_crowd,
    race_processes,
    race_threads,
    shop,
)

USED_UP = "The code FIRST10 has been used up."


def _committed(db, code: str = "FIRST10") -> tuple[int, int]:
    """(the code's ``uses``, its committed holds)."""
    db.expire_all()
    row = db.scalar(select(DiscountCode).where(DiscountCode.code == code))
    holds = db.scalar(
        select(func.count()).where(
            DiscountHold.code_id == row.id, DiscountHold.state == DiscountHoldState.COMMITTED
        )
    )
    return row.uses, holds


def test_forty_shoppers_in_threads_use_a_ten_use_code_exactly_ten_times(app, db):
    make_code(db, "FIRST10", usage_limit=10)
    results = race_threads(
        app, lambda factory, n, barrier: shop(factory, "first10", f"s{n}@example.com", barrier), 40
    )
    assert Counter(kind for kind, _ in results) == {"committed": 10, "refused": 30}
    assert {message for kind, message in results if kind == "refused"} == {USED_UP}
    assert _committed(db) == (10, 10)
    assert verify.check_all(db) == []


def test_a_thousand_shoppers_use_a_first_hundred_code_exactly_a_hundred_times(app, db):
    make_code(db, "FIRST100", usage_limit=100)
    results = race_crowd(app, "FIRST100", shoppers=1000, threads=20)
    assert len(results) == 1000
    assert Counter(kind for kind, _ in results) == {"committed": 100, "refused": 900}
    assert {message for kind, message in results if kind == "refused"} == {
        "The code FIRST100 has been used up."
    }
    assert _committed(db, "FIRST100") == (100, 100)
    assert verify.check_all(db) == []


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite: threads above
def test_thirty_shoppers_in_three_processes_use_a_ten_use_code_exactly_ten_times(
    app, db, database_url
):
    make_code(db, "FIRST10", usage_limit=10)
    app.extensions["holdfast.db"].dispose()
    results = race_processes(database_url, "FIRST10", processes=3, threads=10)
    assert Counter(kind for kind, _ in results) == {"committed": 10, "refused": 20}
    assert {message for kind, message in results if kind == "refused"} == {USED_UP}
    assert _committed(db) == (10, 10)
    assert verify.check_all(db) == []


def test_racing_shoppers_get_the_uses_of_expired_holds_without_a_sweep(app, db):
    make_code(db, "FIRST10", usage_limit=5)
    session = app.extensions["holdfast.db"].session_factory()
    past = datetime.now(UTC) - timedelta(minutes=30)
    for n in range(5):  # every use held by checkouts whose deadline passed 15 minutes ago
        uses.hold_use(session, "FIRST10", None, f"old{n}@example.com", past + TTL, past)
    session.close()
    results = race_threads(
        app, lambda factory, n, barrier: shop(factory, "FIRST10", f"s{n}@example.com", barrier), 20
    )
    assert Counter(kind for kind, _ in results) == {"committed": 5, "refused": 15}
    assert _committed(db) == (5, 5)
    assert verify.check_all(db) == []


def test_late_payments_racing_for_the_last_uses_commit_only_as_many_as_are_free(app, db):
    make_code(db, "FIRST10", usage_limit=3)
    session = app.extensions["holdfast.db"].session_factory()
    past = datetime.now(UTC) - timedelta(minutes=30)
    hold_ids = [
        uses.hold_use(session, "FIRST10", None, f"late{n}@example.com", past + TTL, past).hold_id
        for n in range(3)
    ]
    for n in range(3):  # ... and their uses went to three shoppers after the deadline
        hold_ids.append(uses.hold_use(session, "FIRST10", None, f"new{n}@x.com", *_fresh()).hold_id)
    session.close()

    def pay(factory, n, barrier):
        session = factory()
        try:
            barrier.wait(timeout=60)
            uses.commit_use(session, hold_ids[n])
            return "committed", ""
        except rules.DiscountError as refused:
            return "refused", refused.message
        finally:
            session.close()

    results = race_threads(app, pay, 6)
    assert Counter(kind for kind, _ in results) == {"committed": 3, "refused": 3}
    assert _committed(db) == (3, 3)
    assert verify.check_all(db) == []


def _fresh() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now + TTL, now


def test_one_shopper_in_ten_tabs_uses_a_once_per_shopper_code_once(app, db):
    make_code(db, "FIRST10", once_per_shopper=True)  # unlimited, but once per shopper
    results = race_threads(
        app, lambda factory, n, barrier: shop(factory, "FIRST10", "ann@example.com", barrier), 10
    )
    assert Counter(kind for kind, _ in results) == {"committed": 1, "refused": 9}
    assert _committed(db) == (1, 1)
    assert verify.check_all(db) == []
