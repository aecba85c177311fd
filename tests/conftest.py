"""Test fixtures: an app per test database, on SQLite always and on Postgres when
``TEST_DATABASE_URL`` is set; Redis when ``REDIS_URL`` is set.

With ``CI=true`` both services are required: the run stops at once, with a clear message, when
either is missing or unreachable (it never silently skips them).

Each test gets a database of its own state: SQLite tests get a fresh copy of a file migrated once
per run; Postgres tests share one migrated database that is truncated before each test. Tests
commit for real, so concurrency tests see each other's rows.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from app import create_app, migrate
from app.config import normalize_database_url
from app.models import Base
from app.services import locks
from app.services.accounts import signin as accounts

from . import factories

PG_URL = os.environ.get("TEST_DATABASE_URL")
REDIS_URL = os.environ.get("REDIS_URL")
IN_CI = os.environ.get("CI", "").lower() == "true"

accounts.configure_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))
# A row locked out of the one order fails the test that did it (services/locks.py).
os.environ["HOLDFAST_STRICT_LOCKS"] = "1"  # processes the tests start inherit it
locks.STRICT = True


def _service_problems() -> list[str]:
    problems = []
    if not PG_URL:
        problems.append("TEST_DATABASE_URL is not set")
    else:
        try:
            engine = create_engine(
                normalize_database_url(PG_URL), connect_args={"connect_timeout": 5}
            )
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"Postgres at TEST_DATABASE_URL is unreachable: {exc}")
    if not REDIS_URL:
        problems.append("REDIS_URL is not set")
    else:
        from redis import Redis

        try:
            Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"Redis at REDIS_URL is unreachable: {exc}")
    return problems


def pytest_sessionstart(session: pytest.Session) -> None:
    if IN_CI:
        problems = _service_problems()
        if problems:
            raise pytest.UsageError("CI=true needs Postgres and Redis: " + "; ".join(problems))


# ---------------------------------------------------------------- databases


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(scope="session")
def pg_migrated() -> str:
    if not PG_URL:
        pytest.skip(reason="Postgres tests need TEST_DATABASE_URL (CI sets it)")
    url = normalize_database_url(PG_URL)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    migrate.upgrade(url)
    return url


def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    """A migrated, empty database: each test runs once per backend."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "shop.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_migrated")
    _truncate_postgres(url)
    return url


@pytest.fixture
def _truncated_pg(pg_migrated) -> str:
    """The shared Postgres test database, emptied (for Postgres-only tests)."""
    _truncate_postgres(pg_migrated)
    return pg_migrated


@pytest.fixture
def sqlite_url(tmp_path, sqlite_template) -> str:
    """An SQLite-only database, for tests about SQLite itself."""
    path = tmp_path / "shop.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip(reason="Redis tests need REDIS_URL (CI sets it)")
    return REDIS_URL


# ---------------------------------------------------------------- app


def make_test_app(database_url: str, **overrides):
    config = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "REDIS_URL": None,
        "RATELIMIT_STORAGE_URI": "memory://",
        # Limits off unless a test turns them on (tests/integration/test_rate_limits.py); each
        # app has a limiter and storage of its own, so no count passes from test to test.
        "RATE_LIMIT_ENABLED": False,
        "SERVER_NAME": None,
        # The test client is no HTTP server: tests post testpay's webhooks themselves (one
        # live-server test lets testpay send them for real).
        "TESTPAY_SEND_WEBHOOKS": False,
        # Emails stay in the outbox until a test sends them (to its own SMTP sink).
        "MAIL_AUTO_DISPATCH": False,
        "MAIL_FILE_DIR": tempfile.mkdtemp(prefix="holdfast-mail-"),
        # The alerts' counts without Redis (a 5xx adds one): never the working tree's instance/.
        "ALERT_STATE_DIR": os.path.join(tempfile.gettempdir(), f"holdfast-alerts-{os.getpid()}"),
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def app(database_url):
    app = make_test_app(database_url)
    yield app
    app.extensions["holdfast.db"].dispose()


@pytest.fixture
def db(app) -> Iterator:
    """The test's own session, in autocommit mode: every statement sees the latest committed
    rows and holds no lock between statements, so it never blocks the app under test. (Tests
    of transactions and concurrency open real sessions from the app's ``session_factory``.)"""
    engine = app.extensions["holdfast.db"].engine.execution_options(isolation_level="AUTOCOMMIT")
    session = sessionmaker(engine, expire_on_commit=True)()
    factories.bind(session)
    yield session
    session.close()


@pytest.fixture
def client(app):
    return app.test_client()


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page carries no CSRF token"
    return match.group(1) or match.group(2)


class Browser:
    """A test client that reads the CSRF token from a page, as a browser form would."""

    def __init__(self, client) -> None:
        self.client = client
        self._token: str | None = None

    def get(self, url: str, **kwargs):
        response = self.client.get(url, **kwargs)
        body = response.get_data(as_text=True)
        if "csrf_token" in body or "X-CSRFToken" in body:
            self._token = csrf_from(body)
        return response

    def token(self) -> str:
        if self._token is None:
            self.get("/cart")
        assert self._token
        return self._token

    def post(self, url: str, data: dict | None = None, htmx: bool = False, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token())
        headers = kwargs.pop("headers", {})
        if htmx:
            headers = {"HX-Request": "true", **headers}
        response = self.client.post(url, data=data, headers=headers, **kwargs)
        if response.status_code in (302, 303):
            self._token = None  # a browser follows to a new page (log-in rotates the session)
        return response


@pytest.fixture
def browser(client) -> Browser:
    return Browser(client)
