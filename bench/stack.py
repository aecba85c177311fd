"""The stack a shop really runs, started here for benchmarks and end-to-end tests.

``Stack`` makes a fresh database (a new Postgres database beside the one given, or an SQLite
file), migrates it, seeds the demo shop, then starts gunicorn with production's rules (workers
and threads as asked) and, with Redis, an RQ worker with its scheduler. Everything listens on
127.0.0.1 only; ``stop()`` ends the processes and drops the database.

The app runs with production's rules as ``HOLDFAST_ENV=staging`` (a random 64-character
``SECRET_KEY``, no debug, HSTS sent; see docs/SECURITY.md): staging is production that
takes test payments, so testpay is the only provider and no real one is needed (production
refuses to start with testpay). What a loopback test cannot have is switched off: cookies are
not marked Secure (plain HTTP) and there are no rate limits (every buyer comes from 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_admin_url(base_url: str) -> str:
    from app.config import normalize_database_url

    return normalize_database_url(base_url)


def create_pg_database(base_url: str, name: str) -> str:
    """A new, empty database ``name`` on the server of ``base_url``; its URL."""
    from sqlalchemy import create_engine, text

    admin = create_engine(_pg_admin_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return _pg_admin_url(base_url).rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(base_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(_pg_admin_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@dataclass
class Stack:
    """``database``: "postgres" or "sqlite". ``redis_url``: None runs without Redis (jobs
    inline, as on a one-machine shop)."""

    database: str = "postgres"
    workers: int = 4
    threads: int = 4
    redis_url: str | None = None
    pg_base_url: str = DEFAULT_PG
    rq_workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    keep: bool = False
    # Run on this database instead of a new one (another stack may already serve it);
    # ``prepare`` migrates and seeds it first.
    database_url_given: str | None = None
    prepare: bool = True
    # Serve the app from this directory (a release: a copy of app/ and wsgi.py) instead of
    # the checkout, e.g. with its static files built (tests/integration/test_nginx.py).
    app_dir: Path = ROOT

    def __post_init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="holdfast-stack-"))
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.secret = secrets.token_hex(32)
        self.db_name = f"holdfast_stack_{os.getpid()}_{secrets.token_hex(3)}"
        self.database_url = ""
        self.processes: list[tuple[str, subprocess.Popen]] = []

    # ------------------------------------------------------------ environment

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "HOLDFAST_"))}
        env.pop("REDIS_URL", None)
        env.update(
            {
                "HOLDFAST_ENV": "staging",
                "SECRET_KEY": self.secret,
                "DATABASE_URL": self.database_url,
                "PAYMENT_PROVIDERS": "testpay",
                "TESTPAY_ENABLED": "true",
                "RATE_LIMIT_ENABLED": "false",
                "SESSION_COOKIE_SECURE": "false",
                "SHOP_BASE_URL": self.base_url,
                "MAIL_FILE_DIR": str(self.dir / "mail"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
            env["RATELIMIT_STORAGE_URI"] = "memory://"
        env.update(self.extra_env)
        return env

    # ------------------------------------------------------------ the database

    def prepare_database(self) -> None:
        from app import migrate
        from app.config import normalize_database_url

        if self.database_url_given:
            self.database_url = normalize_database_url(self.database_url_given)
        elif self.database == "postgres":
            self.database_url = create_pg_database(self.pg_base_url, self.db_name)
        else:
            self.database_url = f"sqlite:///{self.dir / 'shop.db'}"
        if self.prepare:
            migrate.upgrade(self.database_url)
            self.run_in_app(_seed_demo)

    def run_in_app(self, fn, *args):
        """Call ``fn(session, *args)`` in an app of this stack's settings (this process)."""
        from app import create_app

        app = create_app(
            {
                "DATABASE_URL": self.database_url,
                "SECRET_KEY": self.secret,
                "TESTING": True,
                "MAIL_AUTO_DISPATCH": False,
            }
        )
        database = app.extensions["holdfast.db"]
        try:
            with app.app_context():
                session = database.session_factory()
                try:
                    return fn(session, *args)
                finally:
                    session.close()
        finally:
            database.dispose()

    # ------------------------------------------------------------ processes

    def spawn_worker(self, name: str) -> subprocess.Popen:
        """Another RQ worker of this stack (a replacement for one that was killed)."""
        return self._spawn(name, [sys.executable, "worker.py"])

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            argv,
            cwd=self.app_dir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append((name, proc))
        return proc

    def start(self) -> Stack:
        if self.redis_url and self.prepare:
            from redis import Redis

            Redis.from_url(self.redis_url).flushdb()
        self.prepare_database()
        self._spawn(
            "gunicorn",
            [
                str(VENV_BIN / "gunicorn"),
                "--workers",
                str(self.workers),
                "--threads",
                str(self.threads),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--backlog",
                "4096",
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
                "wsgi:app",
            ],
        )
        if self.redis_url:
            for n in range(self.rq_workers):
                self.spawn_worker(f"rq-worker-{n}")
        self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.processes:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.log(name)}")
            url = f"{self.base_url}/health"
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310
                if r.status == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the stack did not become healthy:\n{self.log('gunicorn')}")

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def flask(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        """Run ``flask --app wsgi ARGS`` against this stack's database."""
        return subprocess.run(
            [str(VENV_BIN / "flask"), "--app", "wsgi", *args],
            cwd=self.app_dir,
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=300,
        )

    def wait_for_queue(self, timeout: float = 60) -> None:
        """Wait until the RQ queues are empty and no job is running."""
        if not self.redis_url:
            return
        from redis import Redis
        from rq import Queue
        from rq.registry import StartedJobRegistry

        connection = Redis.from_url(self.redis_url)
        queue = Queue("default", connection=connection)
        started = StartedJobRegistry(queue=queue)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if queue.count == 0 and started.count == 0:
                return
            time.sleep(0.2)

    def stop(self) -> None:
        for _name, proc in reversed(self.processes):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if self.keep:
            return
        if self.database == "postgres" and self.database_url and not self.database_url_given:
            drop_pg_database(self.pg_base_url, self.db_name)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def _seed_demo(session) -> None:
    from app.demo import seed as demo

    demo.seed(session)


def set_stock(session, sku: str, units: int) -> int:
    """Set a variant's on-hand stock to ``units`` through the ledger; its id."""
    from sqlalchemy import select

    from app.models import Variant
    from app.services.stock import inventory

    variant = session.scalar(select(Variant).where(Variant.sku == sku))
    delta = units - variant.on_hand
    if delta:
        inventory.adjust_stock(session, sku, delta, reason="flash sale stock", actor="bench")
    return variant.id
