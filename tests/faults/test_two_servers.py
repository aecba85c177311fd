"""Two app servers and two workers on one database still sell exactly S.

Two gunicorn servers (2 workers × 4 threads each), each with its own RQ worker, share one
Postgres database and one Redis, as a shop that grew onto a second machine does. Buyers are
split between them and race for the same variant: exactly S orders, no 5xx, no payment without
an order, every invariant holding.
"""

from __future__ import annotations

import asyncio

import pytest

from bench.flash_sale import SKU, _sale_facts, race
from bench.stack import Stack, set_stock
from tests.conftest import PG_URL, REDIS_URL

pytestmark = pytest.mark.slow
BUYERS, STOCK = 120, 15


def test_two_servers_and_two_workers_on_one_database_sell_exactly_the_stock():
    if not PG_URL or not REDIS_URL:
        pytest.skip(reason="needs TEST_DATABASE_URL and REDIS_URL")
    redis_url = REDIS_URL.rsplit("/", 1)[0] + "/12"
    first = Stack(
        database="postgres", workers=2, threads=4, redis_url=redis_url, pg_base_url=PG_URL
    )
    second = None
    try:
        first.start()
        second = Stack(
            workers=2,
            threads=4,
            redis_url=redis_url,
            database_url_given=first.database_url,
            prepare=False,
        )
        second.secret = first.secret  # one shop: the same signing key on both machines
        second.start()
        variant_id = first.run_in_app(set_stock, SKU, STOCK)
        tally = asyncio.run(race([first.base_url, second.base_url], variant_id, BUYERS))
        first.wait_for_queue()
        facts = first.run_in_app(_sale_facts, variant_id)
        assert not [s for s in tally.statuses if s >= 500], tally.server_errors[:3]
        assert facts["orders"] == STOCK and facts["units_sold"] == STOCK, facts
        assert tally.outcomes == {"ordered": STOCK, "refused": BUYERS - STOCK}, tally.outcomes
        assert facts["paid_without_order"] == 0
        verify = first.flask("holdfast", "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        for stack in (first, second):
            assert "Traceback" not in stack.log("gunicorn")
    finally:
        if second is not None:
            second.stop()
        first.stop()
