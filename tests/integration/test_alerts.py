"""The owner's alerts (services/ops/alerts.py): the shop answering 5xx, holds not swept,
webhooks failing, memory nearly full and the database unreachable. Each opens once, is emailed
to every active owner once (rendered, through a real SMTP server), and once more when it is
back to normal; a second run sends nothing; two watchers at once send one email; the 5xx of
several app processes add up in Redis; the database-down email goes straight to the mail
server, once an hour, and the outage is recorded once the database answers; /admin/health
shows them all."""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.jobs import register_schedule, watch_alerts
from app.models import (
    Alert,
    AlertKind,
    HoldState,
    OutboxMessage,
    Reservation,
    Role,
    SweepRun,
    WebhookEvent,
    WebhookState,
)
from app.services.admin.settings import set_setting
from app.services.mail import outbox as mailer
from app.services.ops import alerts, conditions
from app.services.ops.alert_texts import TITLES
from app.services.ops.tallies import PREFIX, Tallies
from app.services.stock import sweeper
from tests.admin_helpers import text as page_text
from tests.conftest import make_test_app
from tests.factories import UserFactory, variant_with_stock
from tests.outbox_helpers import BASE, bodies, wait_until_a_session_waits_on_a_lock
from tests.smtp_sink import SmtpSink, free_port

OWNERS = ["boss@example.com", "partner@example.com"]


def alert_app(database_url: str, state_dir: Path, sink: SmtpSink, **overrides: Any):
    return make_test_app(
        database_url,
        ALERT_STATE_DIR=str(state_dir),
        SHOP_BASE_URL=BASE,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=sink.port,
        MAIL_USE_TLS=False,
        MAIL_TIMEOUT=5,
        MAIL_DEFAULT_SENDER="Holdfast Supply Co. <shop@holdfast.example>",
        **overrides,
    )


@pytest.fixture
def app(database_url, tmp_path, sink):
    """No Redis: the counts and notes are files in the test's own folder."""
    app = alert_app(database_url, tmp_path / "alerts", sink)
    yield app
    app.extensions["holdfast.db"].dispose()


@pytest.fixture
def owners(db):
    """Two active owners; a deactivated owner and a member of staff are never told."""
    for email in OWNERS:
        UserFactory(email=email, role=Role.OWNER)
    UserFactory(email="gone@example.com", role=Role.OWNER, active=False)
    UserFactory(email="staff@example.com", role=Role.STAFF)


def write_meminfo(path: Path, used_percent: int) -> Path:
    total = 8 * 2**20  # KiB: 8 GiB
    available = total * (100 - used_percent) // 100
    path.write_text(f"MemTotal: {total} kB\nMemFree: 1024 kB\nMemAvailable: {available} kB\n")
    return path


@pytest.fixture
def mem(tmp_path) -> Path:
    """A meminfo file at 40% used, so the machine running the tests never opens an alert."""
    return write_meminfo(tmp_path / "meminfo", 40)


@pytest.fixture
def redis_alerts(redis_url):
    """The alerts' keys emptied before and after (nothing else in the database is touched)."""
    from redis import Redis

    connection = Redis.from_url(redis_url)

    def clean() -> None:
        for key in connection.scan_iter(f"{PREFIX}*"):
            connection.delete(key)

    clean()
    yield redis_url
    clean()
    connection.close()


def watch(app, meminfo: Path, now: datetime | None = None) -> alerts.WatchReport:
    session = app.extensions["holdfast.db"].session_factory()
    try:
        return alerts.watch(session, app.config, now=now, meminfo=meminfo)
    finally:
        session.close()


def alert_mail(db) -> list[OutboxMessage]:
    db.expire_all()
    stmt = select(OutboxMessage).where(OutboxMessage.template == "owner_alert")
    return list(db.scalars(stmt.order_by(OutboxMessage.id)))


def dead_database_url() -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"


def send_outbox(app) -> None:
    session = app.extensions["holdfast.db"].session_factory()
    try:
        report = mailer.send_pending(session, dict(app.config))
    finally:
        session.close()
    assert report.failed == report.retrying == 0


# ---------------------------------------------------------------- each condition


@dataclass(frozen=True)
class Case:
    """How to make one condition start and end, and what its email must say."""

    kind: AlertKind
    start: Any  # (app, db, meminfo) -> None
    end: Any  # (app, db, meminfo) -> the time of the run that sees it ended, or None (now)
    says: str
    advice: str


def later(minutes: int) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def expired_holds(db, count: int, at: datetime) -> None:
    """``count`` one-unit holds of a new variant, still active, whose deadline was ``at``."""
    variant = variant_with_stock(db, count)
    for n in range(count):
        db.add(
            Reservation(
                hold_ref=f"old{n:06d}",
                variant_id=variant.id,
                quantity=1,
                state=HoldState.ACTIVE,
                created_at=at - timedelta(minutes=15),
                expires_at=at,
            )
        )
    db.commit()


def six_5xx(app, _db, _mem) -> None:
    Tallies.from_config(app.config).add(["5xx"] * 6)  # the threshold is 5


def sweeper_stopped(_app, db, _mem) -> None:
    """A cron job used to sweep (an hour ago); two holds expired 20 minutes ago wait."""
    now = datetime.now(UTC)
    db.add(SweepRun(started_at=now - timedelta(hours=1), finished_at=now, trigger="cli"))
    db.commit()
    expired_holds(db, 2, at=now - timedelta(minutes=20))


def sweep_now(app, _db, _mem) -> None:
    session = app.extensions["holdfast.db"].session_factory()
    sweeper.sweep_expired_holds(session, trigger="cli")
    session.close()


def five_failed_webhooks(_app, db, _mem) -> None:
    for n in range(5):
        db.add(
            WebhookEvent(
                provider="testpay",
                event_id=f"ev_{n}",
                kind="payment.captured",
                state=WebhookState.FAILED,
                error="no such payment",
                payload={},
            )
        )
    db.commit()


CASES = [
    Case(
        AlertKind.ERRORS,
        six_5xx,
        lambda *_: later(6),
        "answered 6 requests with an error (5xx)",
        "journalctl -u holdfast-web",
    ),
    Case(
        AlertKind.SWEEPER,
        sweeper_stopped,
        lambda *args: sweep_now(*args),
        "2 holds expired before",
        "systemctl status holdfast-worker holdfast-cron",
    ),
    Case(
        AlertKind.WEBHOOKS,
        five_failed_webhooks,
        lambda *_: later(16),
        "5 verified events that failed in processing",
        "webhook secret",
    ),
    Case(
        AlertKind.MEMORY,
        lambda _app, _db, mem: write_meminfo(mem, 90) and None,
        lambda _app, _db, mem: write_meminfo(mem, 50) and None,
        "90% of the server's memory is in use",
        "top, sorted by memory",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.kind.value for c in CASES])
def test_each_condition_is_told_once_when_it_starts_and_once_when_it_ends(
    app, db, owners, mem, sink, case
):
    title = TITLES[case.kind]
    case.start(app, db, mem)
    assert watch(app, mem).opened == [case.kind.value]
    assert watch(app, mem).opened == []  # still going: nothing more
    told = alert_mail(db)
    assert sorted(m.to_address for m in told) == OWNERS
    assert {m.subject for m in told} == {f"Alert: {title}"}

    ended_at = case.end(app, db, mem)
    assert watch(app, mem, now=ended_at).resolved == [case.kind.value]
    assert watch(app, mem, now=ended_at).resolved == []
    told = alert_mail(db)
    assert [m.subject for m in told[2:]] == [f"Back to normal: {title}"] * 2
    (row,) = db.scalars(select(Alert)).all()
    assert (row.kind, row.notified) == (case.kind, True)
    assert row.opened_at <= row.last_seen_at < row.resolved_at

    send_outbox(app)
    received = {(m["To"], m["Subject"]): bodies(m) for m in sink.messages}
    assert len(received) == 4
    opened_plain, opened_html = received[(OWNERS[0], f"Alert: {title}")]
    for body in (opened_plain, html.unescape(opened_html)):
        assert case.says in body and case.advice in body and f"{BASE}/admin/health" in body
    assert "What to do:" in opened_plain
    resolved_plain, _html = received[(OWNERS[1], f"Back to normal: {title}")]
    assert "Back to normal at" in resolved_plain and case.says in resolved_plain


def test_an_owner_who_switched_alerts_off_gets_none_but_the_record_is_kept(app, db, owners, mem):
    session = app.extensions["holdfast.db"].session_factory()
    set_setting(session, "notify_alerts", False, actor="boss@example.com")
    session.close()
    write_meminfo(mem, 95)
    assert watch(app, mem).opened == ["memory"]
    write_meminfo(mem, 30)
    assert watch(app, mem).resolved == ["memory"]
    assert alert_mail(db) == []
    (row,) = db.scalars(select(Alert)).all()
    assert row.notified is False and row.resolved_at is not None


def test_memory_just_under_the_line_neither_opens_nor_resolves(app, db, owners, mem):
    write_meminfo(mem, 79)
    assert watch(app, mem).opened == []
    write_meminfo(mem, 81)
    assert watch(app, mem).opened == ["memory"]
    write_meminfo(mem, 78)  # within 5 points of the threshold: not back to normal yet
    assert watch(app, mem).resolved == []
    assert len(alert_mail(db)) == 2


def test_a_shop_without_redis_or_a_sweeping_cron_is_not_alerted_about_unswept_holds(app, db, mem):
    now = datetime.now(UTC)
    expired_holds(db, 3, at=now - timedelta(hours=2))
    assert watch(app, mem).opened == []
    session = app.extensions["holdfast.db"].session_factory()
    with_redis = {**app.config, "REDIS_URL": "redis://127.0.0.1:6379/4"}
    reading = conditions.sweeper(session, with_redis, now)
    session.close()
    assert reading.state == conditions.BAD and "has never run" in reading.detail


# ---------------------------------------------------------------- two watchers at once


def test_two_watchers_at_once_open_the_alert_once_and_send_one_email(app, db, database_url, mem):
    UserFactory(email="boss@example.com", role=Role.OWNER)
    write_meminfo(mem, 95)
    factory = app.extensions["holdfast.db"].session_factory
    first = factory()
    reading = conditions.memory(app.config, mem)
    now = datetime.now(UTC)
    assert alerts.apply(first, [reading], base_url=BASE, now=now, commit=False).opened == ["memory"]
    results: dict[str, Any] = {}

    def second_watcher() -> None:
        session = factory()
        try:
            results["report"] = alerts.watch(session, app.config, meminfo=mem)
        except Exception as exc:  # noqa: BLE001 - reported below
            results["error"] = exc
        finally:
            session.close()

    thread = threading.Thread(target=second_watcher)
    thread.start()
    if database_url.startswith("postgresql"):
        wait_until_a_session_waits_on_a_lock(
            db, "the second watcher"
        )  # its insert waits on the unique index
    else:
        thread.join(0.3)  # SQLite: it waits for the write lock, or has not begun yet
    first.commit()
    first.close()
    thread.join(30)
    assert "error" not in results, results.get("error")
    assert results["report"].opened == [] and results["report"].still_open == ["memory"]
    assert [a.kind for a in db.scalars(select(Alert))] == [AlertKind.MEMORY]
    assert [m.to_address for m in alert_mail(db)] == ["boss@example.com"]


# ---------------------------------------------------------------- counting across processes


def test_the_5xx_of_every_app_process_add_up_in_redis_and_open_one_alert(
    database_url, tmp_path, sink, db, owners, mem, redis_alerts
):
    dead = dead_database_url()
    workers = [
        alert_app(dead, tmp_path / f"worker{n}", sink, REDIS_URL=redis_alerts) for n in range(2)
    ]
    for worker in workers:
        client = worker.test_client()
        for _ in range(3):
            assert client.get("/cart").status_code == 503  # the database is down
    live = alert_app(database_url, tmp_path / "live", sink, REDIS_URL=redis_alerts)
    assert live.test_client().get("/").status_code == 200  # not counted
    reader = Tallies(redis_alerts, tmp_path / "reader")
    assert reader.count("5xx", 5) == 6
    assert not any((tmp_path / f"worker{n}").exists() for n in range(2))  # all in Redis

    client = live.test_client()
    assert client.post("/webhooks/testpay", data=b"{}").status_code == 400  # no signature
    assert client.post("/webhooks/nopay", data=b"{}").status_code == 404  # a probe: not counted
    assert reader.count("webhook", 15) == 1 and reader.count("5xx", 5) == 6

    report = watch(live, mem)
    assert report.opened == ["errors"]
    (row,) = db.scalars(select(Alert)).all()
    assert "answered 6 requests with an error" in row.detail
    for app in (*workers, live):
        app.extensions["holdfast.db"].dispose()


# ---------------------------------------------------------------- the database unreachable


def test_an_unreachable_database_is_emailed_straight_once_an_hour_and_recorded_when_back(
    database_url, tmp_path, sink, db, owners, mem, redis_alerts
):
    live = alert_app(database_url, tmp_path / "live", sink, REDIS_URL=redis_alerts)
    dead = alert_app(dead_database_url(), tmp_path / "dead", sink, REDIS_URL=redis_alerts)
    assert watch(live, mem).opened == []  # remembers whom to tell

    down = watch(dead, mem)
    assert (down.database_down, down.emailed_directly) == (True, True)
    assert sorted(m["To"] for m in sink.messages) == OWNERS
    assert {m["Subject"] for m in sink.messages} == {"Alert: Database unreachable"}
    plain, html_body = bodies(sink.messages[0])
    for body in (plain, html_body):
        assert "OperationalError" in body and "systemctl status postgresql" in body
    assert watch(dead, mem).emailed_directly is False  # once an hour
    cli = dead.test_cli_runner().invoke(args=["admin", "alerts"])
    assert cli.exit_code == 1 and "the database is unreachable" in cli.output
    assert len(sink.messages) == 2

    back = watch(live, mem)
    assert back.resolved == ["database"]
    assert watch(live, mem).resolved == []
    (row,) = db.scalars(select(Alert)).all()
    assert (row.kind, row.notified) == (AlertKind.DATABASE, True)
    assert row.opened_at <= row.last_seen_at < row.resolved_at
    assert "OperationalError" in row.detail
    told = alert_mail(db)
    assert sorted(m.to_address for m in told) == OWNERS
    assert {m.subject for m in told} == {"Back to normal: Database unreachable"}
    for app in (live, dead):
        app.extensions["holdfast.db"].dispose()


def test_without_redis_the_outage_goes_to_alert_email_once_and_is_recorded(
    app, db, tmp_path, sink, mem
):
    dead = alert_app(dead_database_url(), tmp_path / "alerts", sink, ALERT_EMAIL="ops@example.com")
    assert watch(dead, mem).emailed_directly is True
    assert watch(dead, mem).emailed_directly is False
    assert [m["To"] for m in sink.messages] == ["ops@example.com"]
    assert watch(app, mem).resolved == ["database"]  # the same folder of notes
    assert [a.kind for a in db.scalars(select(Alert))] == [AlertKind.DATABASE]
    assert alert_mail(db) == []  # no owner to tell
    dead.extensions["holdfast.db"].dispose()


# ---------------------------------------------------------------- where the owner sees them


def test_the_health_page_shows_open_alerts_and_the_recent_resolved_ones(app, db, owner, staff, mem):
    write_meminfo(mem, 93)
    five_failed_webhooks(app, db, mem)
    assert sorted(watch(app, mem).opened) == ["memory", "webhooks"]
    assert watch(app, mem, now=later(16)).resolved == ["webhooks"]
    for person in (owner, staff):
        page = page_text(person.get("/admin/health"))
        open_part, _, resolved_part = page.partition('data-alerts="resolved"')
        assert 'data-alerts="open"' in open_part and 'data-alert="memory"' in open_part
        assert "Memory nearly full" in open_part and "93% of the server" in open_part
        assert 'data-alert="webhooks"' in resolved_part
        assert "Payment webhooks failing" in resolved_part and "minutes)" in resolved_part
    write_meminfo(mem, 20)
    watch(app, mem, now=later(17))
    assert 'data-alerts="none"' in page_text(owner.get("/admin/health"))


# ---------------------------------------------------------------- how it runs


def test_the_watch_runs_every_minute_on_rq_cron_and_as_a_command(
    app, db, tmp_path, monkeypatch, database_url
):
    calls = []
    register_schedule(lambda func, **kw: calls.append((func, kw)), {})
    assert (watch_alerts, {"queue_name": "default", "interval": 60}) in calls
    result = app.test_cli_runner().invoke(args=["admin", "alerts"])
    assert result.exit_code == 0 and "opened:" in result.output, result.output
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ALERT_STATE_DIR", str(tmp_path / "job"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert watch_alerts()["database_down"] is False


def test_a_schema_behind_the_migrations_shows_the_alerts_unreadable_not_an_error(
    sqlite_url, tmp_path, sink
):
    from app import migrate
    from app.services.admin import health

    migrate.downgrade(sqlite_url, "0009")  # before the alerts table
    behind = alert_app(sqlite_url, tmp_path / "alerts", sink)
    database = behind.extensions["holdfast.db"]
    session = database.session_factory()
    page = health.health_page(session, database.engine, None)
    session.close()
    database.dispose()
    assert page.open_alerts is None and page.migrations.current == "0009"
    assert page.outbox == {"pending": 0, "sending": 0, "failed": 0}
