"""Redis stops in the middle of the day, and starts again.

The stack: gunicorn (2 workers) on Postgres, an RQ worker, rate limits and jobs on a Redis of
the test's own. Shoppers buy before, during and after the outage, through HTTP as a browser
does. While Redis is down, shopping and checkout go on (jobs run as they would without Redis,
webhooks are answered 2xx, log-in limits fall back to memory); when it returns, the same worker
picks up work again without a restart, and every order, email and invariant is as it should be.
"""

from __future__ import annotations

import asyncio
import collections
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import func, select

from bench.flash_sale import SKU, Buyer, Tally
from bench.stack import Stack, set_stock
from tests.conftest import PG_URL
from tests.smtp_sink import SmtpSink

pytestmark = pytest.mark.slow


def _buy(stack: Stack, variant_id: int, first: int, count: int) -> Tally:
    tally = Tally()

    async def crowd():
        return await asyncio.gather(
            *(
                Buyer(stack.base_url, variant_id, n, tally, 60).run()
                for n in range(first, first + count)
            )
        )

    tally.outcomes.update(asyncio.run(crowd()))
    return tally


def _orders(session) -> collections.Counter:
    from app.models import Order

    return collections.Counter(o.status.value for o in session.scalars(select(Order)))


def _stack_on(private_redis, sink: SmtpSink) -> Stack:
    """Gunicorn (2 workers) on Postgres and an RQ worker; jobs and rate limits on the test's own
    Redis; mail to the sink."""
    return Stack(
        database="postgres",
        workers=2,
        threads=4,
        redis_url=private_redis.url,
        pg_base_url=PG_URL,
        extra_env={
            "RATE_LIMIT_ENABLED": "true",
            "RATELIMIT_STORAGE_URI": private_redis.url,
            # Ten buyers from one address: the shopping doors' limits are not under test here
            # (tests/integration/test_rate_limits.py); log-in keeps its own.
            "RATE_LIMIT_CART": "1000 per minute",
            "RATE_LIMIT_CHECKOUT": "1000 per minute",
            "RATE_LIMIT_PAY": "1000 per minute",
            "RATE_LIMIT_ORDER_LOOKUP": "1000 per minute",
            "RATE_LIMIT_LOGIN": "2 per minute",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(sink.port),
            "MAIL_USE_TLS": "false",
        },
    )


def _failed_logins(stack: Stack, attempts: int) -> list[int]:
    """The status of each of `attempts` log-ins with a wrong password, through HTTP."""
    failed_logins = []
    for _ in range(attempts):
        form = urllib.parse.urlencode(
            {"email": "nobody@example.com", "password": "wrong password"}
        ).encode()
        try:
            urllib.request.urlopen(f"{stack.base_url}/login", data=form, timeout=10)  # noqa: S310
        except urllib.error.HTTPError as exc:
            failed_logins.append(exc.code)
    return failed_logins


def _facts(session):
    """The orders by status, the emails queued and the emails sent."""
    from app.models import OutboxMessage, OutboxState

    return (
        _orders(session),
        session.scalar(select(func.count(OutboxMessage.id))),
        session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.state == OutboxState.SENT)
        ),
    )


def test_shopping_goes_on_while_redis_is_down_and_work_catches_up_after(private_redis):
    if not PG_URL:
        pytest.skip(reason="needs TEST_DATABASE_URL")
    sink = SmtpSink().start()
    stack = _stack_on(private_redis, sink)
    try:
        stack.start()
        variant_id = stack.run_in_app(set_stock, SKU, 100)

        before = _buy(stack, variant_id, 0, 3)
        assert before.outcomes == {"ordered": 3}, before.server_errors

        private_redis.stop()
        during = _buy(stack, variant_id, 100, 5)
        assert during.outcomes == {"ordered": 5}, during.server_errors
        assert not [s for s in during.statuses if s >= 500], during.statuses
        # The limiter's storage is down: each worker counts in memory (and says so), never a
        # 500. Six log-ins over two workers: one of them sees a third, past its limit of two.
        failed_logins = _failed_logins(stack, 6)
        assert all(code in (400, 429) for code in failed_logins), failed_logins
        assert 429 in failed_logins, failed_logins
        assert "counting in memory" in stack.log("gunicorn")
        health = urllib.request.urlopen(f"{stack.base_url}/health", timeout=10)  # noqa: S310
        assert health.status == 200 and b'"down":["redis"]' in health.read()

        private_redis.start()  # the same worker process must come back to it by itself
        worker = stack.processes[1][1]
        time.sleep(2)
        after = _buy(stack, variant_id, 200, 2)
        assert after.outcomes == {"ordered": 2}, after.server_errors
        stack.wait_for_queue(timeout=60)
        assert worker.poll() is None, "the RQ worker died with Redis"
        assert "Worker" in stack.log("rq-worker-0")

        stack.flask("payments", "reconcile", "--older-than", "0", check=True)
        sent = stack.flask("mail", "send", check=True)
        assert sent.returncode == 0

        orders, emails, sent_emails = stack.run_in_app(_facts)
        assert orders == {"paid": 10}
        assert emails == sent_emails == 10  # one confirmation each, every one sent
        ids = sink.message_ids()
        assert len(ids) == 10 and len(set(ids)) == 10, "an email went twice, or not at all"
        verify = stack.flask("holdfast", "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "Traceback" not in stack.log("gunicorn"), stack.log("gunicorn")[-3000:]
    finally:
        stack.stop()
        sink.stop()
