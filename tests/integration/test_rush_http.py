"""The rush, where it is kept: gunicorn with 4 workers and production settings, 200 buyers for
20 units, through HTTP the way a browser goes (product page, cart, checkout, testpay approval,
return, webhook, the "Confirming your payment" page). On Postgres with Redis and an RQ worker,
and on an SQLite file with neither, as a one-machine shop runs.

Exactly 20 orders, nobody else gets anything but a clear refusal, no 5xx, no payment without
an order, and ``flask holdfast verify`` finds every invariant holding. The app runs with
``HOLDFAST_STRICT_LOCKS=1``, so a lock taken out of order would be a 500 here too.
"""

from __future__ import annotations

import pytest

from bench.flash_sale import run_flash_sale
from bench.stack import Stack
from tests.conftest import PG_URL, REDIS_URL

pytestmark = pytest.mark.slow

BUYERS, STOCK = 200, 20


def _assert_sold_exactly(result: dict, stack: Stack) -> None:
    assert result["http_5xx"] == 0, result["first_errors"]
    assert result["orders"] == STOCK, result
    assert result["units_sold"] == STOCK and result["oversold"] == 0
    assert result["outcomes"] == {"ordered": STOCK, "refused": BUYERS - STOCK}, (
        result["outcomes"],
        result["first_errors"],  # why buyers gave up (a timeout, a dropped connection)
        stack.log("gunicorn")[-2000:],
    )
    assert result["paid_without_order"] == 0
    assert result["verify"]["exit_code"] == 0, result["verify"]["output"]
    assert "Traceback" not in stack.log("gunicorn"), stack.log("gunicorn")[-3000:]


def test_two_hundred_buyers_for_twenty_units_on_postgres_with_redis_and_a_worker():
    if not PG_URL or not REDIS_URL:
        pytest.skip(reason="the production stack needs TEST_DATABASE_URL and REDIS_URL")
    redis_url = REDIS_URL.rsplit("/", 1)[0] + "/13"
    with Stack(
        database="postgres", workers=4, threads=4, redis_url=redis_url, pg_base_url=PG_URL
    ) as stack:
        result = run_flash_sale(stack, buyers=BUYERS, stock=STOCK)
        _assert_sold_exactly(result, stack)
        assert "Traceback" not in stack.log("rq-worker-0")


def test_two_hundred_buyers_for_twenty_units_on_sqlite_without_services():
    with Stack(database="sqlite", workers=4, threads=4) as stack:
        result = run_flash_sale(stack, buyers=BUYERS, stock=STOCK)
        _assert_sold_exactly(result, stack)
