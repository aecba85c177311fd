"""``flask holdfast backup`` and ``flask holdfast restore``, run as the operator (and deploy.sh's
daily timer) runs them: the real CLI in a subprocess, on SQLite and on Postgres.

A shop with paid orders, a checkout waiting for its payment, live and expired holds and a stock
ledger is backed up, its database wiped (the file deleted; every table dropped), restored, and
comes back the same, with every invariant holding."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.cli.backup import schema_advice
from app.db import make_engine
from app.models import AuditLog, Checkout, Order, Payment, Reservation, StockMovement
from app.services.ops import backup as backups
from app.services.stock import holds, inventory, sweeper
from tests import factories
from tests.checkout_helpers import buy, checkout_path, fill_cart, pay, start_checkout
from tests.conftest import PG_URL, Browser, make_test_app

ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).parent / "flask"


def flask(env: dict[str, str], *args: str, answer: str | None = None):
    return subprocess.run(
        [str(FLASK), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        input=answer,
        capture_output=True,
        text=True,
        timeout=120,
    )


def cli_env(database_url: str, backup_dir: Path) -> dict[str, str]:
    """The environment of a shop's `flask` commands, nothing inherited from this run's own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FLASK_", "HOLDFAST_ENV", "BACKUP_", "MAIL_"))
        and k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CI"}
    }
    env.update(
        HOLDFAST_ENV="test",
        DATABASE_URL=database_url,
        SECRET_KEY="backup-test-" + "k" * 40,
        BACKUP_DIR=str(backup_dir),
        MAIL_AUTO_DISPATCH="false",
        MAIL_FILE_DIR=str(backup_dir.parent / "mail"),
    )
    return env


# ---------------------------------------------------------------- the shop


def build_shop(app, now: datetime) -> None:
    """Two paid orders, a checkout waiting for its payment (its hold live), one hold expired
    and swept, one past its time and not swept yet, and stock received and adjusted."""
    database = app.extensions["holdfast.db"]
    rows = Session(database.engine.execution_options(isolation_level="AUTOCOMMIT"))
    factories.bind(rows)  # as the `db` fixture does
    tee = factories.variant_with_stock(rows, 10, sku="TEE", price_cents=2500)
    mug = factories.variant_with_stock(rows, 6, sku="MUG", price_cents=1200)
    db = database.session_factory()
    buy(Browser(app.test_client()), tee, 2)
    buy(Browser(app.test_client()), mug, 1, email="grace@example.com")
    waiting = Browser(app.test_client())
    fill_cart(waiting, (tee, 3))
    pay(waiting, checkout_path(start_checkout(waiting, email="alan@example.com")))
    holds.take_hold(db, {mug.id: 2}, now=now - timedelta(hours=2))
    sweeper.sweep_expired_holds(db, now=now - timedelta(minutes=30))
    holds.take_hold(db, {tee.id: 1}, now=now - timedelta(hours=1))
    inventory.adjust_stock(db, "MUG", -1, reason="chipped", actor="owner")
    db.close()
    rows.close()


def snapshot(url: str, now: datetime) -> dict[str, list]:
    """What an owner would look at: orders, checkouts, payments, holds, the ledger, levels."""
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return {
                "orders": s.execute(
                    select(Order.number, Order.status, Order.total_cents).order_by(Order.id)
                ).all(),
                "checkouts": s.execute(
                    select(Checkout.public_id, Checkout.state).order_by(Checkout.id)
                ).all(),
                "payments": s.execute(
                    select(Payment.provider_ref, Payment.status, Payment.captured_cents).order_by(
                        Payment.id
                    )
                ).all(),
                "holds": s.execute(
                    select(
                        Reservation.hold_ref,
                        Reservation.variant_id,
                        Reservation.quantity,
                        Reservation.state,
                        Reservation.expires_at,
                    ).order_by(Reservation.id)
                ).all(),
                "movements": s.execute(
                    select(
                        StockMovement.variant_id, StockMovement.delta, StockMovement.reason
                    ).order_by(StockMovement.id)
                ).all(),
                "levels": [
                    (x.sku, x.on_hand, x.held, x.available)
                    for x in inventory.stock_levels(s, now=now)
                ],
            }
    finally:
        engine.dispose()


@dataclass
class Shop:
    kind: str
    url: str
    env: dict[str, str]
    backup_dir: Path
    now: datetime
    before: dict[str, list]
    backup_run: subprocess.CompletedProcess

    def backup_file(self) -> Path:
        (path,) = backups.our_backups(self.backup_dir)
        return path

    def wipe(self) -> None:
        if self.kind == "sqlite":
            file = backups.sqlite_file(self.url)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{file}{suffix}").unlink(missing_ok=True)
            return
        engine = create_engine(self.url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()

    def tables(self) -> set[str]:
        if self.kind == "sqlite" and not backups.sqlite_file(self.url).exists():
            return set()
        engine = make_engine(self.url)
        names = set(inspect(engine).get_table_names())
        engine.dispose()
        return names


def _database(kind: str, request, tmp: Path):
    """A migrated, empty database of its own (wiped by the tests) and how to drop it after."""
    if kind == "sqlite":
        path = tmp / "shop.db"
        path.write_bytes(Path(request.getfixturevalue("sqlite_template")).read_bytes())
        return f"sqlite:///{path}", lambda: None
    if not PG_URL:
        pytest.skip(reason="Postgres tests need TEST_DATABASE_URL (CI sets it)")
    from app import migrate
    from bench.stack import create_pg_database, drop_pg_database

    name = f"{make_url(PG_URL).database}_backup"
    url = create_pg_database(PG_URL, name)
    migrate.upgrade(url)
    return url, lambda: drop_pg_database(PG_URL, name)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shop(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"backup-{request.param}")
    url, drop = _database(request.param, request, tmp)
    try:
        now = datetime.now(UTC)
        app = make_test_app(url)
        build_shop(app, now)
        app.extensions["holdfast.db"].dispose()
        env = cli_env(url, tmp / "backups")
        made = flask(env, "holdfast", "backup")
        yield Shop(request.param, url, env, tmp / "backups", now, snapshot(url, now), made)
    finally:
        drop()


# ---------------------------------------------------------------- round trip


@pytest.mark.slow
def test_the_shop_comes_back_whole_after_its_database_is_wiped(shop):
    assert len(shop.before["orders"]) == 2 and len(shop.before["checkouts"]) == 3
    assert {h.state.value for h in shop.before["holds"]} == {"committed", "active", "expired"}
    made = shop.backup_run
    assert made.returncode == 0, made.stderr
    path = shop.backup_file()
    assert path.suffix == (".dump" if shop.kind == "postgres" else ".sqlite3")
    assert f"backup written: {path} (" in made.stdout
    assert f"{path.stat().st_size} bytes" in made.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    shop.wipe()
    assert "orders" not in shop.tables()
    restored = flask(shop.env, "holdfast", "restore", str(path), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert "no `flask db upgrade` needed" in restored.stdout
    assert snapshot(shop.url, shop.now) == shop.before

    verified = flask(shop.env, "holdfast", "verify", "--offline")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "all invariants hold" in verified.stdout
    engine = make_engine(shop.url)
    with Session(engine) as s:
        row = s.scalars(select(AuditLog).where(AuditLog.action == "backup.restored")).one()
    engine.dispose()
    assert row.details["path"] == str(path)


def test_a_backup_of_the_other_kind_is_refused(shop, tmp_path):
    other = tmp_path / "other-kind.bak"
    if shop.kind == "sqlite":
        other.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 64)
    else:
        with sqlite3.connect(other) as conn:
            conn.execute("CREATE TABLE orders (id INTEGER)")
    before = snapshot(shop.url, shop.now)
    refused = flask(shop.env, "holdfast", "restore", str(other), "--yes")
    assert refused.returncode != 0
    assert "can only be restored into" in refused.stderr
    assert "Nothing was changed" in refused.stderr
    assert snapshot(shop.url, shop.now) == before


def test_a_file_named_like_a_backup_that_is_none_is_refused(sqlite_url, tmp_path):
    junk = tmp_path / "holdfast-20260101T000000Z.sqlite3"
    junk.write_text("not a backup\n")
    before = (tmp_path / "shop.db").read_bytes()
    junked = flask(cli_env(sqlite_url, tmp_path), "holdfast", "restore", str(junk), "--yes")
    assert junked.returncode != 0
    assert "is not a Holdfast backup" in junked.stderr
    assert (tmp_path / "shop.db").read_bytes() == before


def test_restore_asks_first_and_does_nothing_when_the_answer_is_no(shop):
    engine = make_engine(shop.url)
    with Session(engine) as db:
        inventory.adjust_stock(db, "TEE", 5, reason="found a box", actor="owner")
    engine.dispose()
    changed = snapshot(shop.url, shop.now)
    asked = flask(shop.env, "holdfast", "restore", str(shop.backup_file()), answer="n\n")
    assert asked.returncode != 0
    assert "Replace the data of" in asked.stdout
    assert "Stop the web server and the worker first" in asked.stdout
    assert "Nothing restored." in asked.stderr
    assert snapshot(shop.url, shop.now) == changed != shop.before


# ---------------------------------------------------------------- rotation, failures


def test_rotation_keeps_the_newest_of_our_backups_and_no_other_file(sqlite_url, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    ours_old = ["holdfast-20200101T000000Z.dump", "holdfast-20200102T000000Z.sqlite3"]
    ours_kept = ["holdfast-20200103T000000Z.sqlite3", "holdfast-20200103T000000Z-2.sqlite3"]
    others = [
        "notes.txt",
        "holdfast-manual.sqlite3",
        "other-20190101T000000Z.dump",
        "holdfast-20190101T000000Z.dump.bak",
    ]
    crashed, running = ".holdfast-partial-0a1b2c.dump", ".holdfast-partial-3d4e5f.sqlite3"
    for name in [*ours_old, *ours_kept, *others, crashed, running]:
        (folder / name).write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86400
    os.utime(folder / crashed, (two_days_ago, two_days_ago))  # a backup killed long ago
    env = cli_env(sqlite_url, tmp_path / "unused")
    made = flask(env, "holdfast", "backup", "--dir", str(folder), "--keep", "3")
    assert made.returncode == 0, made.stderr
    names = sorted(p.name for p in folder.iterdir())
    (new,) = [n for n in names if n not in [*ours_kept, *others, running]]
    assert re.fullmatch(r"holdfast-\d{8}T\d{6}Z\.sqlite3", new)
    assert names == sorted([new, *ours_kept, *others, running])
    for name in ours_old:
        assert f"removed old backup {name}" in made.stdout
    engine = make_engine(sqlite_url)
    with Session(engine) as s:
        row = s.scalars(select(AuditLog).where(AuditLog.action == "backup.created")).one()
    engine.dispose()
    assert row.details == {
        "path": str(folder / new),
        "size": (folder / new).stat().st_size,
        "backend": "sqlite",
    }


def test_a_missing_or_failing_pg_dump_exits_non_zero_and_leaves_no_file(tmp_path):
    if not PG_URL:
        pytest.skip(reason="Postgres tests need TEST_DATABASE_URL (CI sets it)")
    folder = tmp_path / "backups"
    env = cli_env(PG_URL, folder)
    missing = flask({**env, "PATH": str(tmp_path)}, "holdfast", "backup")
    assert missing.returncode != 0
    assert "pg_dump is not installed" in missing.stderr
    nowhere = PG_URL.rsplit("/", 1)[0] + "/holdfast_no_such_database"
    failed = flask(cli_env(nowhere, folder), "holdfast", "backup")
    assert failed.returncode != 0
    assert "pg_dump failed" in failed.stderr and "holdfast_no_such_database" in failed.stderr
    assert not folder.exists() or list(folder.iterdir()) == []


# ---------------------------------------------------------------- the pieces


def test_the_password_reaches_pg_tools_by_environment_never_by_argument():
    url = "postgresql+psycopg://shop:s3cr%40t@db.example:5433/holdfast?sslmode=require"
    target, env = backups.libpq_target(url)
    assert target == "postgresql://shop@db.example:5433/holdfast?sslmode=require"
    assert env["PGPASSWORD"] == "s3cr@t"
    assert "s3cr" not in backups.describe(url)


def test_two_backups_in_one_second_get_two_names(sqlite_url, tmp_path):
    at = datetime(2026, 12, 6, 10, 15, 0, tzinfo=UTC)
    tmp_path = tmp_path / "backups"
    first = backups.create_backup(sqlite_url, tmp_path, now=at)
    second = backups.create_backup(sqlite_url, tmp_path, now=at)
    assert first.path.name == "holdfast-20261206T101500Z.sqlite3"
    assert second.path.name == "holdfast-20261206T101500Z-2.sqlite3"
    assert backups.our_backups(tmp_path) == [first.path, second.path]
    assert {p.name for p in tmp_path.iterdir()} == {first.path.name, second.path.name}


def test_restoring_an_older_schema_says_to_run_db_upgrade(sqlite_url, tmp_path):
    from alembic.script import ScriptDirectory

    from app import migrate

    script = ScriptDirectory.from_config(migrate.alembic_config(sqlite_url))
    head = script.get_current_head()
    previous = script.get_revision(head).down_revision
    migrate.downgrade(sqlite_url, previous)
    made = backups.create_backup(sqlite_url, tmp_path / "backups")
    elsewhere = f"sqlite:///{tmp_path / 'new' / 'shop.db'}"  # a new machine: no file yet
    restored = flask(
        cli_env(elsewhere, tmp_path / "backups"), "holdfast", "restore", str(made.path), "--yes"
    )
    assert restored.returncode == 0, restored.stderr
    assert (
        f"schema: at {previous}, the code expects {head}: run `flask --app wsgi db upgrade`"
        in restored.stdout
    )


def test_a_backup_from_a_newer_release_is_not_sent_to_db_upgrade(sqlite_url):
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    state = backups.schema_state(sqlite_url)
    assert (state.current, state.known, state.up_to_date) == ("9999_from_the_future", False, False)
    advice = schema_advice(state)
    assert "newer release" in advice and "not `flask db upgrade`" in advice
