"""The whole suite in two pytest processes side by side (`make test` runs this).

The suite spends much of its time waiting (servers starting, browsers, workers polling), so two
processes on the two cores finish it in well under the time one takes. They never share a row:

- **services**: the browser tests, the fault tests and the integration tests that use Redis, start
  servers (gunicorn, nginx, RQ workers, `make run`) or bind ports. Run with the environment as
  given (`TEST_DATABASE_URL`, `REDIS_URL`).
- **rest**: every other test, on a Postgres database of its own (the given database's name with
  `_rest` appended, created when missing) and the next Redis database number.

Each process has its own `--basetemp`. The services' output streams as it comes; the rest's is
shown when both have finished. Exit status: 0 only when both passed.

Given test paths or `-k`/`-m` (``make test PYTEST_ARGS="tests/unit -k pricing"``), it runs one
pytest with those arguments, as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
SERVICE_TESTS = [
    "tests/e2e",
    "tests/faults",
    *(
        f"tests/integration/test_{name}.py"
        for name in [
            "lock_order",
            "rush_http",
            "outbox",
            "alerts",
            "sweeper",
            "payment_jobs",
            "metrics",
            "backup_restore",
            "health_and_errors",
            "health_endpoints",
            "rate_limits",
            "production_guards",
            "make_run",
            "admin_audit_settings",
            "restart_without_dropping",
            "deploy_script",
            "nginx",
            "connections",
            "observability",
        ]
    ),
]


def _selects(args: list[str]) -> bool:
    """Whether the arguments pick tests themselves (paths, -k, -m, node ids)."""
    return any(a.startswith(("tests", "-k", "-m")) or "::" in a for a in args)


def _rest_env() -> dict[str, str]:
    env = dict(os.environ)
    if env.get("TEST_DATABASE_URL"):
        env["TEST_DATABASE_URL"] = _with_path(env["TEST_DATABASE_URL"], lambda db: f"{db}_rest")
    if env.get("REDIS_URL"):
        env["REDIS_URL"] = _with_path(env["REDIS_URL"], lambda n: str((int(n or 0) + 1) % 16))
    return env


def _with_path(url: str, change) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + change(parts.path.lstrip("/"))))


def _ensure_database(url: str | None) -> None:
    """Create the rest's Postgres database when the server does not have it yet."""
    if not url:
        return
    from sqlalchemy import create_engine, text

    from app.config import normalize_database_url

    url = normalize_database_url(url)
    name = urlsplit(url).path.lstrip("/")
    server = create_engine(_with_path(url, lambda _db: "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - the suite's own check then says what is wrong
        print(f"run_tests: could not prepare {name}: {exc}", file=sys.stderr)
    finally:
        server.dispose()


def _pytest(args: list[str], basetemp: str) -> list[str]:
    return [sys.executable, "-m", "pytest", f"--basetemp={basetemp}", *args]


def _junit_for_rest(args: list[str]) -> list[str]:
    return [a.replace(".xml", ".rest.xml") if a.startswith("--junitxml=") else a for a in args]


def main(args: list[str]) -> int:
    if _selects(args):
        return subprocess.call([sys.executable, "-m", "pytest", *args], cwd=ROOT)
    env = _rest_env()
    _ensure_database(env.get("TEST_DATABASE_URL"))
    temp = Path(tempfile.gettempdir())
    ignore = [f"--ignore={path}" for path in SERVICE_TESTS if path.endswith(".py")]
    with tempfile.TemporaryFile(mode="w+") as rest_log:
        rest = subprocess.Popen(
            _pytest(
                [*_junit_for_rest(args), "tests/unit", "tests/integration", *ignore],
                str(temp / "holdfast-tests-rest"),
            ),
            cwd=ROOT,
            env=env,
            stdout=rest_log,
            stderr=subprocess.STDOUT,
        )
        services = subprocess.call(
            _pytest([*args, *SERVICE_TESTS], str(temp / "holdfast-tests-services")), cwd=ROOT
        )
        rest_status = rest.wait()
        rest_log.seek(0)
        print("\n======== the rest of the suite (run alongside) ========\n", flush=True)
        sys.stdout.write(rest_log.read())
    print(f"\nrun_tests: services exit {services}, rest exit {rest_status}", flush=True)
    return 0 if services == 0 and rest_status == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
