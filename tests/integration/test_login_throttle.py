"""Log-in throttling instead of lock-out: failures slow down one (email, address) pair,
doubling the wait after the free ones; a try during the wait is refused unchecked; every
failure reads the same whatever the account's state; someone failing elsewhere never slows
the owner down; concurrent failures all count (threads, on SQLite and Postgres)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.models import AuditLog, LoginThrottle, User
from app.services.accounts import signin, throttle
from tests.account_helpers import PASSWORD, make_them_wait, without_csrf
from tests.conftest import Browser
from tests.factories import UserFactory

FAILURE = "That email and password do not match an account."
WAIT = "Wait a moment before trying again."
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def app(app):
    app.config["RATELIMIT_ENABLED"] = False  # the per-address limits are tested elsewhere
    return app


def visitor(app, address: str = "127.0.0.1") -> Browser:
    browser = Browser(app.test_client())
    browser.client.environ_base["REMOTE_ADDR"] = address
    browser.get("/login")
    return browser


def log_in(browser: Browser, email: str, password: str):
    browser.get("/login")
    return browser.post("/login", {"email": email, "password": password})


def fail(browser: Browser, email: str, times: int) -> None:
    for _ in range(times):
        assert log_in(browser, email, "wrong password!").status_code == 401


def lift_the_wait(db) -> None:
    db.execute(update(LoginThrottle).values(next_try_at=datetime.now(UTC) - timedelta(seconds=1)))


def test_every_failure_reads_the_same_whatever_the_account(app, db):
    UserFactory(email="ada@example.com")
    UserFactory(email="gone@example.com", active=False)
    answers = [
        log_in(visitor(app), "nobody@example.com", PASSWORD),
        log_in(visitor(app), "ada@example.com", "wrong password!"),
        log_in(visitor(app), "gone@example.com", PASSWORD),  # right password, deactivated
    ]
    assert {a.status_code for a in answers} == {401}
    bodies = {without_csrf(a.get_data(as_text=True)).replace("gone", "ada") for a in answers}
    bodies = {b.replace("nobody", "ada") for b in bodies}
    assert len(bodies) == 1 and FAILURE in bodies.pop()


def test_a_waiting_pair_is_refused_unchecked_and_reads_the_same_for_any_email(app, db):
    UserFactory(email="ada@example.com")
    known, unknown = visitor(app), visitor(app)
    fail(known, "ada@example.com", 6)  # five free, the sixth starts a wait
    fail(unknown, "nobody@example.com", 6)
    make_them_wait(db)
    right = log_in(known, "ada@example.com", PASSWORD)
    other = log_in(unknown, "nobody@example.com", PASSWORD)
    assert right.status_code == other.status_code == 401
    assert FAILURE in right.get_data(as_text=True) and WAIT in right.get_data(as_text=True)
    same = [without_csrf(a.get_data(as_text=True)).replace("nobody", "ada") for a in (right, other)]
    assert same[0] == same[1]
    assert known.client.get("/account").status_code == 302
    # The refused tries were not checked, so not counted either.
    assert sorted(db.scalars(select(LoginThrottle.failures))) == [6, 6]

    lift_the_wait(db)
    assert log_in(known, "ada@example.com", PASSWORD).status_code == 303
    assert known.client.get("/account").status_code == 200
    assert list(db.scalars(select(LoginThrottle.failures))) == [6]  # ada's pair is cleared


def test_the_wait_doubles_after_the_free_failures_up_to_the_cap(app, db):
    UserFactory(email="ada@example.com")
    policy = throttle.Policy(free_failures=5, max_delay_seconds=900)
    waits, now = [], T0
    with app.app_context():
        session = app.extensions["holdfast.db"].session_factory()
        for _ in range(17):
            with pytest.raises(signin.AuthError):
                signin.authenticate(
                    session,
                    "ADA@example.com ",
                    "wrong!",
                    address="10.1.1.1",
                    policy=policy,
                    now=now,
                )
            until = throttle.waiting_until(
                session, throttle.key_for("ada@example.com", "10.1.1.1"), now
            )
            waits.append(int((until - now).total_seconds()) if until else 0)
            now = until or now
        # During the wait even the right password is refused, and not counted.
        with pytest.raises(signin.AuthError, match="Wait a moment"):
            signin.authenticate(
                session,
                "ada@example.com",
                PASSWORD,
                address="10.1.1.1",
                policy=policy,
                now=now - timedelta(seconds=1),
            )
        assert (
            signin.authenticate(
                session, "ada@example.com", PASSWORD, address="10.1.1.1", policy=policy, now=now
            ).email
            == "ada@example.com"
        )
        session.close()
    assert waits == [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert db.scalar(select(LoginThrottle)) is None


def test_failures_from_another_address_never_slow_the_owner_down(app, db):
    UserFactory(email="owner@example.com")
    attacker = visitor(app, "203.0.113.9")
    fail(attacker, "owner@example.com", 12)
    make_them_wait(db)
    assert "Wait a moment" in log_in(attacker, "owner@example.com", PASSWORD).get_data(as_text=True)
    owner = visitor(app, "198.51.100.7")
    assert log_in(owner, "owner@example.com", PASSWORD).status_code == 303
    assert owner.client.get("/account").status_code == 200
    db.expire_all()
    user = db.scalar(select(User))
    assert (user.failed_logins, user.locked_until) == (0, None)  # no account is locked
    assert db.scalar(select(AuditLog.id).where(AuditLog.action == "user.locked")) is None


def test_concurrent_failures_all_count(app, db):
    policy = throttle.Policy(free_failures=1000, max_delay_seconds=900)
    factory = app.extensions["holdfast.db"].session_factory
    threads_n = 12
    start, errors = threading.Barrier(threads_n), []

    def try_once() -> None:
        with factory() as session:
            start.wait()
            try:
                signin.authenticate(
                    session, "nobody@example.com", "wrong!", address="10.9.9.9", policy=policy
                )
            except signin.AuthError:
                return
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=try_once) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert db.scalar(select(LoginThrottle.failures)) == threads_n


def test_old_pairs_are_pruned_and_start_again_from_one(app, db):
    policy = throttle.Policy()
    with app.app_context():
        session = app.extensions["holdfast.db"].session_factory()
        old, fresh = throttle.key_for("a@example.com", "1.1.1.1"), throttle.key_for("b@x.io", "1")
        for _ in range(3):
            throttle.record_failure(session, old, policy, now=T0)
        throttle.record_failure(session, fresh, policy, now=T0 + timedelta(hours=23))
        # A day later a failure starts the count again.
        assert (
            throttle.record_failure(session, old, policy, now=T0 + timedelta(days=1, seconds=1))
            == 1
        )
        throttle.record_failure(session, old, policy, now=T0)  # its clock goes back to T0
        assert throttle.prune_throttles(session, T0 + timedelta(days=1, minutes=1)) == 1
        session.close()
    assert list(db.scalars(select(LoginThrottle.key_hash))) == [fresh]
