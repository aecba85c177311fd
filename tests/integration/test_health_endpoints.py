"""``/health/live`` (the process answers), ``/health/ready`` (database, Redis, schema at head:
what deploy.sh waits for) and ``/health/detailed`` (staff only). ``/health`` itself is
tests/integration/test_health_and_errors.py's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from app import clock
from app.models import Role
from app.services.stock import holds, sweeper
from tests.admin_helpers import signed_in
from tests.checkout_helpers import buy
from tests.conftest import Browser, make_test_app
from tests.factories import variant_with_stock

GONE = "sqlite:////nonexistent-dir/for/holdfast/shop.db"


def _answer(client, url: str) -> tuple[int, dict]:
    response = client.get(url)
    assert response.headers["Cache-Control"] == "no-store"
    return response.status_code, response.get_json()


def test_live_answers_while_the_database_is_gone():
    client = make_test_app(GONE).test_client()
    assert client.get("/").status_code == 503  # the outage is noticed: pages answer 503 at once
    assert _answer(client, "/health/live") == (200, {"status": "alive"})


def test_ready_when_the_database_answers_and_the_schema_is_at_head(client, db):
    status, body = _answer(client, "/health/ready")
    assert status == 200
    assert body["status"] == "ready" and body["not_ready"] == []
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["migrations"] == {"status": "ok"}
    assert body["checks"]["redis"] == {"status": "not configured"}


def test_ready_names_an_unreachable_database_and_nothing_about_it():
    client = make_test_app(GONE).test_client()
    client.get("/")  # the outage breaker is on: ready still looks for itself
    status, body = _answer(client, "/health/ready")
    assert status == 503
    assert body["status"] == "not ready"
    assert body["not_ready"] == ["database", "migrations"]
    assert "nonexistent" not in str(body)


def test_ready_names_a_schema_that_is_not_at_the_migrations_head(sqlite_url):
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    engine.dispose()
    app = make_test_app(sqlite_url)
    status, body = _answer(app.test_client(), "/health/ready")
    assert status == 503
    assert body["not_ready"] == ["migrations"]
    assert body["checks"]["migrations"] == {"status": "not at head"}
    assert "0001" not in str(body)
    app.extensions["holdfast.db"].dispose()


def test_ready_names_redis_when_it_is_configured_and_unreachable(database_url):
    app = make_test_app(database_url, REDIS_URL="redis://127.0.0.1:1/0")
    status, body = _answer(app.test_client(), "/health/ready")
    assert (status, body["not_ready"]) == (503, ["redis"])
    app.extensions["holdfast.db"].dispose()


def test_ready_with_redis_answering(database_url, redis_url):
    app = make_test_app(database_url, REDIS_URL=redis_url)
    status, body = _answer(app.test_client(), "/health/ready")
    assert (status, body["checks"]["redis"]["status"]) == (200, "ok")
    app.extensions["holdfast.db"].dispose()


# ---------------------------------------------------------------- staff only


def test_detailed_is_not_found_for_visitors_and_customers(app, client, db):
    assert client.get("/health/detailed").status_code == 404
    customer = signed_in(app, Role.CUSTOMER, email="shopper@example.com")
    assert customer.get("/health/detailed").status_code == 404


def _holds_of_every_kind(app, db) -> None:
    """One live hold, one past its deadline and swept, one past it and not swept yet."""
    variant = variant_with_stock(db, 10)
    session = app.extensions["holdfast.db"].session_factory()
    long_ago = clock.utcnow() - timedelta(hours=1)
    holds.take_hold(session, [(variant.id, 1)])
    holds.take_hold(session, [(variant.id, 1)], ttl_minutes=1, now=long_ago)
    sweeper.sweep_expired_holds(session)
    holds.take_hold(session, [(variant.id, 1)], ttl_minutes=1, now=long_ago)
    session.close()


@pytest.mark.parametrize("role", [Role.STAFF, Role.OWNER])
def test_detailed_report_for_staff(app, db, database_url, role):
    _holds_of_every_kind(app, db)
    buy(Browser(app.test_client()), variant_with_stock(db, 3))
    person = signed_in(app, role, email=f"{role.value}@example.com")
    status, body = _answer(person.client, "/health/detailed")
    assert status == 200
    assert body["status"] == "healthy" and body["version"]
    assert body["migrations"]["up_to_date"] is True
    database = body["database"]
    assert database["backend"] == ("sqlite" if database_url.startswith("sqlite") else "postgresql")
    assert database["size_bytes"] > 0 and database["pool"]["kind"]
    assert body["holds"] == {"active": 1, "expired_unswept": 1, "expired": 1}
    assert sum(body["orders"].values()) == 1
    assert body["sweeper"]["expired"] == 1 and body["sweeper"]["trigger"] == "cli"
    assert body["queue"] is None  # no Redis
    assert set(body["outbox"]) == {"pending", "sending", "failed"}
    assert body["memory_mb"]["rss"] > 0
