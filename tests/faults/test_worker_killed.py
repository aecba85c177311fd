"""An RQ worker killed with SIGKILL in the middle of a job.

License keys arrive for an order that waits for them (``flask keys import``); the job that
hands them out is caught half-way (it waits for a row the test holds) and its worker is killed
with everything it started. A new worker comes up and takes the scheduler lock at once; the job
runs again (RQ retries an abandoned job), and the order gets its keys once, with one email.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from sqlalchemy import create_engine, select, text

from bench.stack import Stack
from tests.conftest import PG_URL, REDIS_URL
from tests.smtp_sink import SmtpSink

pytestmark = pytest.mark.slow
SKU = "KILL-KEYS"


def _waiting_order(session) -> tuple[int, str]:
    """A digital product sold out of keys, and an order waiting for two of them."""
    from flask import current_app

    from app.models import Category, Product, ProductKind, Variant
    from app.providers import get_provider
    from app.services.checkout import cart
    from app.services.checkout import pipeline as checkout
    from app.services.orders import completion
    from app.services.orders.order_book import OrderLinks
    from app.services.payments import authorize as payments

    product = Product(
        slug="kill-keys",
        name="Killable Keys",
        description="",
        is_active=True,
        kind=ProductKind.DIGITAL,
        category=session.scalar(select(Category)),
    )
    variant = Variant(
        product=product,
        sku=SKU,
        name="",
        price_cents=1500,
        currency="USD",
        on_hand=0,
        allow_backorder=True,
    )
    session.add_all([product, variant])
    session.commit()
    c = cart.ensure_cart(session, token=cart.new_token())
    session.commit()
    cart.add_item(session, c.id, variant.id, 2)
    started = checkout.start_checkout(
        session,
        c.id,
        checkout.Address("keys@example.com", "Key Buyer", "1 Road", "Town", "1", "US"),
        owner_key="c:kill",
    )
    provider = get_provider("testpay", current_app.config)
    payments.authorize_payment(
        session, started.id, provider, payments.Urls("http://x/return", "http://x/cancel")
    )
    ref = completion.latest_payment(session, started.id).provider_ref
    session.rollback()
    provider.decide(ref, True)
    done = completion.complete_payment(
        session, provider, ref, source="return", links=OrderLinks.from_config(current_app.config)
    )
    from app.models import Order

    order = session.scalar(select(Order).where(Order.number == done.order_number))
    assert order.status.value == "awaiting_stock", order.status
    return order.id, order.number


def _keys_and_emails(session, number: str):
    from app.models import LicenseKey, Order, OrderLine, OutboxMessage

    order = session.scalar(select(Order).where(Order.number == number))
    line_ids = [
        line.id for line in session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))
    ]
    keys = session.scalars(
        select(LicenseKey.code).where(LicenseKey.order_line_id.in_(line_ids))
    ).all()
    emails = session.scalars(
        select(OutboxMessage.template).where(OutboxMessage.order_id == order.id)
    ).all()
    return order.status.value, sorted(keys), sorted(emails)


def _descendants(pid: int) -> list[int]:
    """The process and everything it started (RQ's work horse runs in a session of its own,
    so a process-group kill would miss it)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rpartition(")")[2].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout} s")


def _stack_mailing(sink: SmtpSink) -> Stack:
    """Postgres, one RQ worker and Redis db 11, mailing the sink."""
    return Stack(
        database="postgres",
        workers=1,
        threads=2,
        pg_base_url=PG_URL,
        redis_url=REDIS_URL.rsplit("/", 1)[0] + "/11",
        extra_env={
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(sink.port),
            "MAIL_USE_TLS": "false",
        },
    )


def _import_keys(stack: Stack, tmp_path) -> None:
    """Three keys arrive for the SKU (``flask keys import``), which queues the job that fills
    the waiting order."""
    keys = tmp_path / "keys.txt"
    keys.write_text("KEY-ONE\nKEY-TWO\nKEY-THREE\n")
    imported = stack.flask("keys", "import", SKU, str(keys))
    assert imported.returncode == 0, imported.stdout + imported.stderr


def _sessions_waiting_on_a_lock(connection) -> int:
    return connection.execute(
        text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        )
    ).scalar()


def _kill_with_all_it_started(process) -> None:
    for pid in _descendants(process.pid):  # the worker, its job and its scheduler
        os.kill(pid, signal.SIGKILL)
    process.wait(timeout=10)


def _find_the_abandoned_job(stack: Stack) -> None:
    """Time passes: the dead job's lease runs out and RQ's maintenance finds it abandoned."""
    from redis import Redis
    from rq import Queue
    from rq.registry import StartedJobRegistry

    queue = Queue("default", connection=Redis.from_url(stack.redis_url))
    StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + 3600)


def test_a_worker_killed_mid_job_leaves_the_job_to_run_again_once(tmp_path):
    if not PG_URL or not REDIS_URL:
        pytest.skip(reason="needs TEST_DATABASE_URL and REDIS_URL")
    sink = SmtpSink().start()
    stack = _stack_mailing(sink)
    holder = None
    try:
        stack.start()
        order_id, number = stack.run_in_app(_waiting_order)
        stack.flask("mail", "send", check=True)
        holder = create_engine(stack.database_url).connect()
        holder.execute(text("SELECT id FROM orders WHERE id = :id FOR UPDATE"), {"id": order_id})

        _import_keys(stack, tmp_path)
        _wait_for(
            lambda: _sessions_waiting_on_a_lock(holder),
            30,
            "the fill job waiting for the order's lock",
        )
        _kill_with_all_it_started(stack.processes[1][1])
        holder.rollback()
        holder.close()
        holder = None
        assert stack.run_in_app(_keys_and_emails, number)[1] == []  # nothing half-done

        replacement = stack.spawn_worker("rq-worker-replacement")
        # At once: not after the dead lock's minute and the next maintenance.
        _wait_for(
            lambda: "took over the scheduler lock" in stack.log("rq-worker-replacement"),
            20,
            "the new worker taking over the dead worker's scheduler lock",
        )

        _find_the_abandoned_job(stack)
        status, codes, emails = _wait_for(
            lambda: (lambda r: r if r[1] else None)(stack.run_in_app(_keys_and_emails, number)),
            40,
            "the job running again and delivering the keys",
        )
        assert status == "fulfilled" and len(codes) == len(set(codes)) == 2, codes
        assert set(codes) <= {"KEY-ONE", "KEY-TWO", "KEY-THREE"}
        stack.wait_for_queue(timeout=30)
        stack.flask("mail", "send", check=True)
        delivered = [m for m in sink.messages if "keys for order" in m["Subject"]]
        assert len(delivered) == 1, [m["Subject"] for m in sink.messages]
        assert emails.count("keys_delivered") == 1
        assert len(set(sink.message_ids())) == len(sink.message_ids()), "an email went twice"
        verify = stack.flask("holdfast", "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert replacement.poll() is None
    finally:
        if holder is not None:
            holder.close()
        stack.stop()
        sink.stop()
