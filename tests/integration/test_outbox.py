"""The email outbox against a real SMTP server (aiosmtpd on 127.0.0.1): emails exist exactly when
their transaction commits, go out once per dedupe key, retry with backoff, give up, never resend
after a crash mid-send unless the owner says so, and are sent after commit by a thread or a
worker. What each kind of email says is in test_email_kinds.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import jobs
from app.db import begin_write
from app.models import Order, OrderStatus, OutboxMessage, OutboxState
from app.services import locks
from app.services.mail import notifications, rendering, transports
from app.services.mail import outbox as mailer
from tests.factories import VariantFactory
from tests.outbox_fixtures import (  # noqa: F401 - pytest fixtures
    fixture_app,
    fixture_config,
    fixture_order,
    fixture_session,
    fixture_sink,
)
from tests.outbox_helpers import (
    BASE,
    T0,
    at,
    bodies,
    confirm,
    link,
    outbox,
    place_order,
    wait_until_a_session_waits_on_a_lock,
)
from tests.smtp_sink import free_port

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- the transaction decides


def test_an_email_of_a_rolled_back_change_is_never_sent_and_a_committed_one_arrives_once(
    session, config, order, sink, db
):
    locks.lock_order(session, order.id).status = OrderStatus.FULFILLED
    notifications.order_confirmed(session, order, link=link(order))
    session.rollback()
    assert mailer.send_pending(session, config, now=T0).sent == 0
    assert outbox(db) == [] and sink.messages == []

    queued = confirm(session, order)
    report = mailer.send_pending(session, config, now=T0)
    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
    assert mailer.send_pending(session, config, now=at(60)).sent == 0

    assert len(sink.messages) == 1
    received = sink.messages[0]
    assert received["Subject"] == f"Order {order.number} confirmed"
    assert received["To"] == "ada@example.com"
    assert sink.envelopes == [("shop@holdfast.example", ["ada@example.com"])]
    assert received.get_content_type() == "multipart/alternative"
    plain, html = bodies(received)
    for body in (plain, html):
        assert "Heavy Tee — M" in body and "Grotesk Font licence" in body
        assert "$25.00" in body and "$99.00" in body  # unit price and total
        assert f"{BASE}/orders/{order.number}" in body
    assert f'href="{BASE}/orders/{order.number}"' in html

    [row] = outbox(db)
    assert (row.id, row.state, row.attempts, row.sent_at) == (queued.id, OutboxState.SENT, 1, T0)
    assert row.order_id == order.id
    assert received["Message-ID"] == row.message_id
    assert row.message_id == rendering.message_id_for(row.dedupe_key, config["MAIL_DEFAULT_SENDER"])


def test_queueing_the_same_event_twice_yields_one_email(session, order, db):
    assert confirm(session, order) is not None
    assert session.info.pop("outbox_queued") is True  # the teardown dispatches after commit
    assert confirm(session, order) is None  # a retried transaction
    begin_write(session)
    keys = [("Grotesk Font licence", "AAAA-1111")]
    first = notifications.keys_delivered(
        session, order, keys, link=link(order), complete=True, first=True
    )
    again = notifications.keys_delivered(
        session, order, keys, link=link(order), complete=True, first=True
    )
    session.commit()
    assert first is not None and again is None
    assert [m.template for m in outbox(db)] == ["order_confirmed", "keys_delivered"]


def test_a_duplicate_racing_in_another_transaction_returns_none_and_leaves_it_usable(
    app, session, order, db, database_url
):
    """B queues the same email while A's insert is uncommitted: on Postgres B's insert waits on
    the unique key, fails when A commits, and only B's savepoint rolls back."""
    other = app.extensions["holdfast.db"].session_factory()
    begin_write(session)
    assert notifications.order_confirmed(session, order, link=link(order)) is not None
    results: dict[str, object] = {}

    def racer() -> None:
        try:
            begin_write(other)
            mine = other.get(Order, order.id)
            results["dup"] = notifications.order_confirmed(other, mine, link=link(mine))
            results["own"] = notifications.shipped(
                other, mine, link=link(mine), carrier="Royal Mail", tracking="RM123GB"
            )
            other.commit()
        except Exception as exc:  # noqa: BLE001 - reported below
            results["error"] = exc

    thread = threading.Thread(target=racer)
    thread.start()
    if database_url.startswith("postgresql"):
        wait_until_a_session_waits_on_a_lock(db)
    session.commit()
    thread.join(30)
    other.close()
    assert "error" not in results, results.get("error")
    assert results["dup"] is None and results["own"] is not None
    assert sorted(m.template for m in outbox(db)) == ["order_confirmed", "shipped"]


# ---------------------------------------------------------------- failures and retries


def test_a_refusal_leaves_the_email_pending_with_backoff_and_it_goes_out_once_later(
    session, config, order, sink, db
):
    confirm(session, order)
    sink.reject_with = "451 4.3.0 Try again later"
    report = mailer.send_pending(session, config, now=T0)
    assert (report.sent, report.retrying) == (0, 1)
    [row] = outbox(db)
    assert (row.state, row.attempts, row.next_attempt_at) == (OutboxState.PENDING, 1, at(1))
    assert "451" in row.last_error and "Try again later" in row.last_error

    sink.reject_with = None
    assert mailer.send_pending(session, config, now=at(0.5)).sent == 0  # not due yet
    assert mailer.send_pending(session, config, now=at(1)).sent == 1
    assert mailer.send_pending(session, config, now=at(90)).sent == 0
    assert len(sink.messages) == 1
    [row] = outbox(db)
    assert (row.state, row.attempts, row.last_error) == (OutboxState.SENT, 2, None)


def test_an_unreachable_server_costs_one_attempt_and_the_rest_wait_untouched(
    session, config, order, db
):
    confirm(session, order)
    begin_write(session)
    notifications.shipped(session, order, link=link(order), carrier="DHL", tracking="JD01")
    session.commit()
    closed = {**config, "MAIL_PORT": free_port()}
    report = mailer.send_pending(session, closed, now=T0)
    assert (report.retrying, report.stopped) == (1, True)
    first, second = outbox(db)
    assert (first.state, first.attempts, first.next_attempt_at) == (OutboxState.PENDING, 1, at(1))
    assert "ConnectionRefusedError" in first.last_error
    assert (second.state, second.attempts, second.last_error) == (OutboxState.PENDING, 0, None)


def test_after_the_last_attempt_the_email_is_failed(session, config, order, sink, db):
    confirm(session, order)
    sink.reject_with = "421 4.7.0 Too busy"
    limited = {**config, "MAIL_MAX_ATTEMPTS": 3}
    clock = T0
    for expected in (OutboxState.PENDING, OutboxState.PENDING, OutboxState.FAILED):
        mailer.send_pending(session, limited, now=clock)
        [row] = outbox(db)
        assert row.state is expected
        clock = row.next_attempt_at
    assert (row.attempts, row.sent_at) == (3, None)
    assert row.last_error.startswith("gave up after 3 attempts: ")
    sink.reject_with = None
    assert mailer.send_pending(session, limited, now=at(10_000)).sent == 0
    assert sink.messages == []


def test_a_permanent_refusal_fails_at_once(session, config, order, sink, db):
    confirm(session, order)
    sink.reject_with = "550 5.1.1 No such mailbox"
    assert mailer.send_pending(session, config, now=T0).failed == 1
    [row] = outbox(db)
    assert (row.state, row.attempts) == (OutboxState.FAILED, 1)
    assert "550" in row.last_error


class DiesAfterSending:
    """The mail server accepts the email, then the worker dies before writing that down."""

    def __init__(self, config) -> None:
        self.smtp = transports.SmtpTransport(config)

    def send(self, email, claim) -> None:
        self.smtp.send(email, claim)
        raise SystemExit("worker killed")

    def close(self) -> None:
        self.smtp.close()


def test_an_email_interrupted_mid_send_is_sent_again_with_the_same_message_id(
    app, session, config, order, sink, db
):
    """At least once: a sender killed after the server took the email and before it wrote
    that down leaves it `sending`; after the timeout it goes again, with one Message-ID."""
    confirm(session, order)
    started = datetime.now(UTC)
    with pytest.raises(SystemExit):
        mailer.send_pending(session, config, now=started, transport=DiesAfterSending(config))
    assert len(sink.messages) == 1
    [row] = outbox(db)
    assert row.state is OutboxState.SENDING

    report = mailer.send_pending(session, config, now=started + timedelta(minutes=5))
    assert (report.sent, report.interrupted) == (0, 0)  # maybe still sending: leave it
    report = mailer.send_pending(session, config, now=started + timedelta(minutes=10))
    assert (report.sent, report.interrupted) == (1, 1)
    assert len(sink.messages) == 2
    assert sink.messages[0]["Message-ID"] == sink.messages[1]["Message-ID"] == row.message_id
    [row] = outbox(db)
    assert row.state is OutboxState.SENT and row.attempts == 2
    assert row.last_error.startswith("interrupted while sending; sent again")
    assert mailer.send_pending(session, config, now=started + timedelta(days=1)).sent == 0
    assert len(sink.messages) == 2


def test_two_senders_at_once_send_every_email_exactly_once(app, session, config, sink, db):
    tee = VariantFactory(sku="TEE-L", product__name="Heavy Tee")
    for n in range(12):
        o = place_order(session, [(tee, "Heavy Tee — L", 1)], email=f"buyer{n}@example.com")
        confirm(session, o)
    barrier = threading.Barrier(2)
    reports, errors = [], []

    def sender() -> None:
        own = app.extensions["holdfast.db"].session_factory()
        try:
            barrier.wait(10)
            reports.append(mailer.send_pending(own, config, now=T0))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(r.sent for r in reports) == 12
    ids = sink.message_ids()
    assert len(ids) == 12 and len(set(ids)) == 12
    assert {m.state for m in outbox(db)} == {OutboxState.SENT}


# ---------------------------------------------------------------- without a mail server


def test_without_a_mail_server_each_email_becomes_an_eml_file(session, config, order, db, tmp_path):
    confirm(session, order)
    development = {**config, "MAIL_SERVER": None}
    assert mailer.send_pending(session, development, now=T0).sent == 1
    [path] = (tmp_path / "mail").glob("*.eml")
    written = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert written["Subject"] == f"Order {order.number} confirmed"
    assert written["To"] == "ada@example.com"
    plain, html = bodies(written)
    assert "Heavy Tee — M" in plain and "Heavy Tee — M" in html
    [row] = outbox(db)
    assert row.state is OutboxState.SENT and path.name.startswith(f"{row.id:06d}-")


# ---------------------------------------------------------------- listing


def test_an_orders_emails_are_listed_newest_first(session, order, config, db):
    confirm(session, order)
    begin_write(session)
    notifications.shipped(session, order, link=link(order), carrier="DHL", tracking="JD02")
    session.commit()
    listed = mailer.list_messages(session, order_id=order.id)
    assert [m.template for m in listed] == ["shipped", "order_confirmed"]
    assert mailer.list_messages(session, state="sent") == []
    assert len(mailer.list_messages(session, state=OutboxState.PENDING, limit=1)) == 1


# ---------------------------------------------------------------- after commit: dispatch


def test_dispatch_without_redis_sends_in_a_thread_and_never_raises(
    app, session, config, order, sink
):
    confirm(session, order)
    with app.app_context():
        thread = jobs.dispatch_outbox(config)
    thread.join(30)
    assert len(sink.messages) == 1

    broken = {**config, "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    jobs.dispatch_outbox(broken).join(30)  # logged, not raised


@pytest.fixture
def job_redis_url(redis_url):
    """A Redis database of these tests' own (db 11), emptied before and after."""
    from redis import Redis

    url = redis_url.rsplit("/", 1)[0] + "/11"
    connection = Redis.from_url(url)
    connection.flushdb()
    yield url
    connection.flushdb()
    connection.close()


def test_dispatch_with_redis_enqueues_the_job_a_real_worker_runs(
    app, session, config, order, sink, db, database_url, job_redis_url
):
    confirm(session, order)
    app.extensions["holdfast.db"].dispose()
    jobs.dispatch_outbox({**config, "REDIS_URL": job_redis_url})
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": job_redis_url,
        "HOLDFAST_ENV": "development",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(sink.port),
        "MAIL_USE_TLS": "false",
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
    assert len(sink.messages) == 1
    assert db.scalar(select(func.count()).where(OutboxMessage.state == OutboxState.SENT)) == 1


def test_mail_settings_default_to_files_in_the_instance_folder(tmp_path):
    from app.config import load_config

    cfg = load_config(str(tmp_path), env={"SECRET_KEY": "x"})
    assert cfg["MAIL_SERVER"] is None
    assert cfg["MAIL_FILE_DIR"] == str(tmp_path / "mail")
    assert (cfg["MAIL_PORT"], cfg["MAIL_USE_TLS"], cfg["MAIL_USE_SSL"]) == (587, True, False)
    assert (cfg["MAIL_MAX_ATTEMPTS"], cfg["MAIL_SENDING_TIMEOUT_MINUTES"]) == (8, 10)
    assert cfg["MAIL_DEFAULT_SENDER"] == "Holdfast <shop@localhost>"
    assert cfg["SHOP_BASE_URL"] == "http://127.0.0.1:5000"
