"""RQ jobs and their schedule.

A job takes ids or plain values, builds the app (``create_app()`` reads the same settings as the
web process), opens its own session, calls one service and returns a small dict. Every job is
safe to run twice: its effect is decided by the rows, not by how often it ran.

The schedule is registered for ``rq cron`` by ``cron_config.py`` at the repository root
(``rq cron cron_config --url $REDIS_URL``; run exactly one cron process: RQ's cron has no leader
lock). Without ``REDIS_URL`` nothing here runs and nothing needs it: expired holds stop counting
at their deadline whether or not they are swept, and ``flask stock cleanup`` sweeps on demand.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.queue import QUEUE, enqueue
from app.services.mail import outbox
from app.services.orders.order_book import OrderLinks

log = logging.getLogger("holdfast.jobs")


@contextmanager
def job_session() -> Iterator[tuple[Session, dict[str, Any]]]:
    """An app context's session and settings for one job; everything is closed afterwards."""
    from app import create_app

    app = create_app()
    database = app.extensions["holdfast.db"]
    try:
        with app.app_context():
            session = database.session_factory()
            try:
                yield session, dict(app.config)
            finally:
                try:
                    session.close()
                except SQLAlchemyError:  # its connection was dropped: throw it away
                    session.invalidate()
    finally:
        database.dispose()


def sweep_holds(batch_size: int | None = None) -> dict[str, Any]:
    """Mark expired holds ``expired`` and release expired discount holds (services.sweeper);
    records a SweepRun."""
    from app.services.stock import sweeper

    with job_session() as (session, config):
        result = sweeper.sweep_expired_holds(
            session,
            batch_size=batch_size or config["HOLD_SWEEP_BATCH_SIZE"],
            trigger="rq",
        )
    return {
        "run_id": result.run_id,
        "expired": result.expired,
        "batches": result.batches,
        "discount_holds_released": result.discount_holds_released,
    }


def sweep_interval_seconds(env: Mapping[str, str] | None = None) -> int:
    """``HOLD_SWEEP_INTERVAL_MINUTES`` (default 5) in seconds, read as ``app.config`` does."""
    from app.config import load_config

    env = dict(os.environ if env is None else env)
    env.setdefault("SECRET_KEY", "unused-by-the-schedule")  # load_config needs one in production
    minutes = load_config("instance", env)["HOLD_SWEEP_INTERVAL_MINUTES"]
    return minutes * 60


def register_schedule(register: Callable[..., Any], env: Mapping[str, str] | None = None) -> None:
    """Register the periodic jobs with ``rq.cron.register`` (or a compatible callable)."""
    register(sweep_holds, queue_name=QUEUE, interval=sweep_interval_seconds(env))
    register(expire_checkouts, queue_name=QUEUE, interval=60)
    register(reconcile_payments, queue_name=QUEUE, interval=300)
    register(retry_fulfilment, queue_name=QUEUE, interval=600)
    register(send_outbox_job, queue_name=QUEUE, interval=60)
    register(checkout_reminders, queue_name=QUEUE, interval=900)
    register(owner_notices, queue_name=QUEUE, interval=300)
    register(forget_old_sign_ins, queue_name=QUEUE, interval=3600)
    register(watch_alerts, queue_name=QUEUE, interval=60)


# ---------------------------------------------------------------- payments


def deliver_webhook(url: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """POST a signed webhook (testpay plays a remote provider). Raises on a non-2xx answer so
    RQ's Retry sends it again, as a real provider would."""
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - our own URL
        return {"status": response.status}


def expire_checkouts() -> dict[str, Any]:
    """RQ (periodic): record checkouts whose hold ran out (pages also do it lazily)."""
    from app.services.checkout import review

    with job_session() as (session, _config):
        expired = review.end_stale_checkouts(session)
    return {"expired": expired}


def reconcile_payments() -> dict[str, Any]:
    """RQ (periodic): finish what was left half-done: payments that never reported back or hide
    money without an order, webhook events never processed, refunds never recorded on their
    orders (services.reconcile)."""
    from datetime import timedelta

    from app.providers import get_provider
    from app.services.payments import reconcile

    with job_session() as (session, config):
        report = reconcile.reconcile(
            session,
            lambda name: get_provider(name, config),
            timedelta(minutes=config["PAYMENT_RECONCILE_AFTER_MINUTES"]),
            links=OrderLinks.from_config(config),
        )
        _send_queued(session, config)
    return report.__dict__


def process_webhook(webhook_id: int, provider: str) -> dict[str, Any]:
    """Act on a stored webhook (services.payments.process_webhook); safe to run twice."""
    from app.providers import get_provider
    from app.services.payments import authorize as payments

    with job_session() as (session, config):
        row = payments.process_webhook(
            session,
            webhook_id,
            get_provider(provider, config),
            links=OrderLinks.from_config(config),
        )
        _send_queued(session, config)
    return {"webhook": webhook_id, "state": row.state.value if row else None}


# ---------------------------------------------------------------- fulfilment


def fill_backorders_with(session: Session, config: Mapping[str, Any], variant_id: int) -> list[str]:
    """Fill a variant's waiting lines (services.orders.fulfilment); their emails are queued in the
    same transaction and sent by whoever owns the session once it closes."""
    from app.services.orders import fulfilment

    deliveries = fulfilment.fill_waiting(session, variant_id, links=OrderLinks.from_config(config))
    return [d.order.number for d in deliveries]


def retry_fulfilment_with(session: Session, config: Mapping[str, Any]) -> list[str]:
    from app.services.orders import fulfilment

    deliveries = fulfilment.retry_fulfilment(session, links=OrderLinks.from_config(config))
    return [d.order.number for d in deliveries]


def _send_queued(session: Session, config: Mapping[str, Any]) -> None:
    """A job's session queued emails and committed them: have the outbox sent."""
    if session.info.pop("outbox_queued", False):
        dispatch_outbox(config)


def fill_backorders(variant_id: int) -> dict[str, Any]:
    """RQ: stock or keys arrived for a variant."""
    with job_session() as (session, config):
        numbers = fill_backorders_with(session, config, variant_id)
        _send_queued(session, config)
    return {"variant": variant_id, "orders": numbers}


def retry_fulfilment() -> dict[str, Any]:
    """RQ (periodic): fill whatever waits, so nothing depends on a missed trigger."""
    with job_session() as (session, config):
        numbers = retry_fulfilment_with(session, config)
        _send_queued(session, config)
    return {"orders": numbers}


def checkout_reminders() -> dict[str, Any]:
    """RQ (periodic): when the owner switched reminders on, one email per abandoned checkout
    (services.admin.checkouts.send_reminders); safe to run twice (one per checkout)."""
    from app.services.admin import checkouts

    with job_session() as (session, config):
        queued = checkouts.send_reminders(session, shop_url=config["SHOP_BASE_URL"])
        _send_queued(session, config)
    return {"queued": queued}


# ---------------------------------------------------------------- the owner's emails


def owner_notices() -> dict[str, Any]:
    """RQ (periodic): the owner's emails that are due (services.admin.notices); safe to run
    twice (each email is queued once) and after missed runs (each looks back)."""
    from app.services.admin import notices

    with job_session() as (session, config):
        report = notices.send_owner_notices(session, base_url=config["SHOP_BASE_URL"])
        _send_queued(session, config)
    return asdict(report)


def watch_alerts() -> dict[str, Any]:
    """RQ (every minute): open and resolve the owner's alerts (services.ops.alerts); safe to
    run twice and from several workers at once (one email per alert opened or resolved)."""
    from app.services.ops import alerts

    with job_session() as (session, config):
        report = alerts.watch(session, config)
        _send_queued(session, config)
    return asdict(report)


# ---------------------------------------------------------------- accounts


def forget_old_sign_ins() -> dict[str, Any]:
    """RQ (hourly): delete log-in throttles untouched for a day and used or expired email
    confirmations (services.accounts); safe to run twice."""
    from app.services.accounts import registration, throttle

    with job_session() as (session, _config):
        throttles = throttle.prune_throttles(session)
        confirmations = registration.prune_confirmations(session)
    return {"throttles": throttles, "confirmations": confirmations}


# ---------------------------------------------------------------- the outbox


def send_outbox_job() -> dict[str, Any]:
    """RQ job (after commits, and periodically for retries): send every due email."""
    with job_session() as (session, config):
        report = outbox.send_all_due(session, config)
    return asdict(report)


def dispatch_outbox(config: Mapping[str, Any]) -> threading.Thread | None:
    """Have the outbox sent; call AFTER committing the emails. With ``REDIS_URL``: enqueue
    ``send_outbox_job``. Without: send in a daemon thread (returned, so tests can join it),
    with the current app's database, or one of its own outside an app context.
    Never raises: a message that is not sent now is sent by the next run."""
    from flask import current_app, has_app_context

    try:
        factory = (
            current_app.extensions["holdfast.db"].session_factory if has_app_context() else None
        )
        settings = dict(config)
        queued = enqueue(
            config,
            send_outbox_job,
            retry=None,
            background=True,
            inline=lambda: _send_in_thread(settings, factory),
        )
        return queued if isinstance(queued, threading.Thread) else None
    except Exception:  # noqa: BLE001 - never break the caller's request
        log.exception("could not dispatch the outbox; the next run will send it")
        return None


def _send_in_thread(config: dict[str, Any], factory: Callable[[], Session] | None) -> None:
    from app.db import PoolSettings, Timeouts
    from app.services.transactions import open_database

    try:
        if factory is None:  # the process's one engine, so nothing to dispose afterwards
            factory = open_database(
                config["DATABASE_URL"],
                Timeouts.from_config(config),
                PoolSettings.from_config(config),
            ).session_factory
        with factory() as session:
            outbox.send_all_due(session, config)
    except Exception:  # noqa: BLE001 - a thread has no caller to tell
        log.exception("sending the outbox failed; the next run will retry")
