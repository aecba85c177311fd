"""deploy.sh, as an operator runs it: shellcheck-clean; ``--dry-run`` prints every step of a
set-up, an app-only set-up, a deploy and a clean-up and changes nothing, as any user; a real
deploy into a temporary root (systemctl, runuser and the health check's curl are stubs that log
their calls) builds a release, migrates, switches ``current`` and restarts the services; a
deploy whose health check fails goes back to the release before it and says so; ``--clean``
and ``--rollback`` do what they say; the units it installs pass ``systemd-analyze verify``.

The real deploys copy this checkout (``--from``) and reuse its virtualenv (``--venv``): no
network, no pip install; htmx comes from npm's cache when it has it."""

from __future__ import annotations

import grp
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy.sh"
UNITS = (
    "holdfast-web.socket",
    "holdfast-web.service",
    "holdfast-worker.service",
    "holdfast-cron.service",
    "holdfast-backup.service",
    "holdfast-backup.timer",
)
SETUP = ["--setup", "--domain", "shop.example.com", "--email", "owner@example.com"]

# Stubs for what a test machine must not touch: each logs its arguments.
STUBS = {
    "systemctl": 'echo "systemctl $*" >> "$STUB_LOG"\n',
    "runuser": 'echo "runuser $*" >> "$STUB_LOG"\n'
    'while [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n',
    # /health/ready: ready unless the test named the one release that is healthy.
    "curl": 'echo "curl $*" >> "$STUB_LOG"\n'
    'if [ -e "$HEALTHY" ] && [ "$(readlink -f "$HOLDFAST_ROOT/current")" != "$(cat "$HEALTHY")" ]\n'
    'then echo \'{"status": "not ready", "migrations": "behind"}\'; exit 22; fi\n'
    'echo \'{"status": "ready"}\'\n',
}


def _machine(base: Path) -> dict[str, str]:
    """An environment whose every root is under ``base``, stubs first on PATH."""
    stubs = base / "stubs"
    stubs.mkdir(parents=True, exist_ok=True)
    for name, body in STUBS.items():
        (stubs / name).write_text("#!/bin/sh\n" + body)
        (stubs / name).chmod(0o755)
    return {
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", str(base)),
        "LANG": "C.UTF-8",
        "HOLDFAST_ROOT": str(base / "srv"),
        "HOLDFAST_ETC": str(base / "etc"),
        "SYSTEMD_DIR": str(base / "systemd"),
        "NGINX_DIR": str(base / "nginx"),
        "STUB_LOG": str(base / "calls.log"),
        "HEALTHY": str(base / "healthy"),
        "HOLDFAST_HEALTH_TRIES": "2",
        "HOLDFAST_HEALTH_DELAY": "0",
        # htmx from npm's cache (`make setup` filled it) without asking the registry first.
        "npm_config_cache": str(Path(os.environ.get("HOME", "/root")) / ".npm"),
        "npm_config_prefer_offline": "true",
    }


def deploy_sh(*args: str, env: dict[str, str], user: list[str] | None = None):
    return subprocess.run(
        [*(user or []), "bash", str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd="/",
    )


def files_under(base: Path) -> list[str]:
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.name != "stubs")


def calls(env: dict[str, str]) -> list[str]:
    path = Path(env["STUB_LOG"])
    return path.read_text().splitlines() if path.exists() else []


# ---------------------------------------------------------------- shellcheck


def test_shellcheck_finds_nothing_in_deploy_sh():
    if not shutil.which("shellcheck"):
        assert not IN_CI, "shellcheck is missing (scripts/ensure_tools.sh installs it)"
        pytest.skip(reason="shellcheck is not installed outside CI (scripts/ensure_tools.sh)")
    result = subprocess.run(
        ["shellcheck", "--severity=style", str(SCRIPT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


# ---------------------------------------------------------------- --dry-run


def test_dry_run_setup_prints_every_step_and_changes_nothing(tmp_path):
    env = _machine(tmp_path)
    before = files_under(tmp_path)
    result = deploy_sh("--dry-run", *SETUP, env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    packages = next(line for line in out.splitlines() if "apt-get install" in line).split()
    for package in ("python3-venv", "postgresql", "redis-server", "nginx", "certbot"):
        assert package in packages
    for package in ("python3-certbot-nginx", "nodejs", "npm", "ufw"):
        assert package in packages
    assert "+ useradd --system --user-group" in out and "/usr/sbin/nologin holdfast\n" in out
    assert 'CREATE ROLE "holdfast" LOGIN' in out and "CREATE DATABASE" in out
    assert "PASSWORD '<secret>'" in out and "__SECRET_KEY__|<secret>|" in out
    for unit in UNITS:
        assert f"{env['SYSTEMD_DIR']}/{unit}" in out, unit
    assert "+ systemctl enable holdfast-web.socket holdfast-web.service" in out
    assert "deploy/holdfast-command > /usr/local/bin/holdfast.new" in out
    assert "+ certbot certonly --webroot -w /var/www/letsencrypt -d shop.example.com" in out
    assert "sites-enabled/default" in out and "+ nginx -t" in out
    for rule in ("OpenSSH", "80/tcp", "443/tcp"):
        assert f"+ ufw allow {rule}" in out
    assert "+ ufw --force enable" in out
    assert files_under(tmp_path) == before


def test_dry_run_app_only_installs_no_database_and_no_cron_where_told(tmp_path):
    env = _machine(tmp_path)
    before = files_under(tmp_path)
    password = secrets.token_hex(8)
    args = ["--dry-run", *SETUP, "--app-only", "--no-cron", "--no-tls"]
    args += ["--database-url", f"postgresql://shop:{password}@db.example.com:25060/shop"]
    args += ["--redis-url", "rediss://default:x@cache.example.com:25061/0"]
    result = deploy_sh(*args, env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    packages = next(line for line in out.splitlines() if "apt-get install" in line).split()
    assert "postgresql" not in packages and "redis-server" not in packages
    assert "postgresql-client" in packages  # pg_dump, for the backups
    assert "CREATE ROLE" not in out and "appendonly" not in out
    assert f"{env['SYSTEMD_DIR']}/holdfast-web.service" in out
    assert f"> {env['SYSTEMD_DIR']}/holdfast-cron.service" not in out
    assert "+ systemctl disable --now holdfast-cron.service" in out
    assert "+ certbot" not in out and "+ openssl req -x509" in out  # --no-tls: self-signed
    assert password not in out, "the database password is printed"
    assert files_under(tmp_path) == before


def test_dry_run_deploy_prints_the_release_steps_and_changes_nothing(tmp_path):
    env = _machine(tmp_path)
    result = deploy_sh("--dry-run", "--from", str(ROOT), env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    steps = [
        "git -C",  # the checkout's files, copied
        "-m venv",
        "pip install --quiet -c",
        "scripts/install_assets.py",
        "flask --app wsgi holdfast build-static",
        "flask --app wsgi db upgrade",
        "+ mv -T",
        "+ systemctl restart holdfast-web.service",
        "+ systemctl restart holdfast-worker.service",
        "/health/ready",
    ]
    positions = [out.index(step) for step in steps]
    assert positions == sorted(positions), out
    assert "runuser -u holdfast -- .venv/bin/flask --app wsgi db upgrade" in out
    assert not (tmp_path / "srv").exists() and calls(env) == []


def test_dry_run_deploy_from_a_repository_fetches_its_ref(tmp_path):
    env = _machine(tmp_path)
    url = "https://example.invalid/holdfast.git"
    result = deploy_sh("--dry-run", "--repo", url, "--ref", "v1.4.0", env=env)
    assert result.returncode == 0, result.stderr
    assert f"+ git clone --mirror --quiet {url} {env['HOLDFAST_ROOT']}/repo.git" in result.stdout
    assert "archive '<commit>'" in result.stdout
    assert not (tmp_path / "srv").exists()


def test_dry_run_works_for_a_user_who_can_write_nothing(tmp_path):
    """The same dry-runs as a user who can write nothing there (as root: nobody, through
    setpriv): they print, they never try to write."""
    env = _machine(tmp_path) | {"HOLDFAST_ROOT": "/nonexistent/srv", "HOME": "/nonexistent"}
    env["HOLDFAST_ETC"] = "/nonexistent/etc"
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if os.geteuid() != 0:
        nobody = []  # this user cannot write under /nonexistent either
    for args in (SETUP, ["--from", str(ROOT)], ["--clean"]):
        result = deploy_sh("--dry-run", *args, env=env, user=nobody)
        assert result.returncode == 0, result.stderr
    assert not Path("/nonexistent").exists()


# ---------------------------------------------------------------- what --setup installs


def test_the_nginx_site_it_installs_passes_nginx_t(tmp_path):
    """nginx/holdfast.conf as --setup --no-tls installs it: every placeholder filled, with the
    self-signed certificate it makes, checked by nginx (inside a wrapper nginx.conf of ours)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        assert not IN_CI, "nginx is missing (scripts/ensure_tools.sh installs it)"
        pytest.skip(reason="nginx is not installed outside CI (scripts/ensure_tools.sh)")
    env = _machine(tmp_path)
    sites = Path(env["NGINX_DIR"])
    (sites / "sites-available").mkdir(parents=True)
    (sites / "sites-enabled").mkdir()
    Path(env["HOLDFAST_ETC"]).mkdir()
    steps = "TLS=0 DOMAIN=shop.example.com CERT_DIR=$HOLDFAST_ETC/tls setup_certificate"
    steps += " && DOMAIN=shop.example.com CERT_DIR=$HOLDFAST_ETC/tls install_site"
    made = subprocess.run(
        ["bash", "-c", f"source {SCRIPT} && {steps}"], env=env, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stdout + made.stderr
    site = (sites / "sites-enabled/holdfast").read_text()
    assert not re.search(r"__[A-Z_]+__", site) and "server_name shop.example.com;" in site
    wrapper = tmp_path / "nginx.conf"
    wrapper.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{ include /etc/nginx/mime.types; include {sites}/sites-enabled/*; }}\n"
    )
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", f"{tmp_path}/error.log", "-c", str(wrapper)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr


# ---------------------------------------------------------------- real deploys


def _set_up(base: Path) -> dict[str, str]:
    """What --setup leaves for a deploy: the settings file and the shared folders (staging on
    SQLite with testpay, so the real migrations and the real backup run here)."""
    env = _machine(base)
    shared = Path(env["HOLDFAST_ROOT"]) / "shared"
    (shared / "instance").mkdir(parents=True)
    Path(env["HOLDFAST_ETC"]).mkdir()
    Path(env["SYSTEMD_DIR"]).mkdir()
    (Path(env["HOLDFAST_ETC"]) / "holdfast.env").write_text(
        "# as deploy/holdfast.env.template writes it\n"
        "HOLDFAST_ENV=staging\n"
        f"SECRET_KEY={secrets.token_hex(32)}\n"
        f"DATABASE_URL=sqlite:///{shared}/shop.db\n"
        "PAYMENT_PROVIDERS=testpay\n"
        f'BACKUP_DIR="{shared}/backups"\n'
        "HOLDFAST_REF=main\n"
    )
    return env


def _deploy(env: dict[str, str]):
    return deploy_sh("--from", str(ROOT), "--venv", str(ROOT / ".venv"), env=env)


def _releases(env: dict[str, str]) -> list[str]:
    return sorted(p.name for p in (Path(env["HOLDFAST_ROOT"]) / "releases").iterdir())


def _current(env: dict[str, str]) -> Path:
    return (Path(env["HOLDFAST_ROOT"]) / "current").resolve()


@pytest.fixture(scope="module")
def first_deploy(tmp_path_factory):
    env = _set_up(tmp_path_factory.mktemp("droplet"))
    result = _deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    return env, result, calls(env), _current(env)


@pytest.fixture(scope="module")
def failed_deploy(first_deploy):
    """A second deploy whose /health/ready never answers 200 (only the first release is
    healthy)."""
    env, _, _, first = first_deploy
    Path(env["HEALTHY"]).write_text(str(first))
    Path(env["STUB_LOG"]).unlink()
    result = _deploy(env)
    return env, result, calls(env), first


@pytest.mark.slow
def test_a_deploy_builds_a_release_migrates_switches_and_restarts(first_deploy):
    env, result, logged, current = first_deploy
    releases = _releases(env)
    assert len(releases) == 1 and current.name == releases[0]
    assert (current / ".venv").resolve() == (ROOT / ".venv").resolve()
    assert (current / "instance").resolve() == Path(env["HOLDFAST_ROOT"]) / "shared/instance"
    assert (current / "app/static/vendor/htmx.min.js").is_file()
    assert (current / "app/static/manifest.json").is_file(), "build-static did not run"
    shop_db = Path(env["HOLDFAST_ROOT"]) / "shared/shop.db"
    with sqlite3.connect(shop_db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert "runuser -u holdfast -- .venv/bin/flask --app wsgi db upgrade" in logged
    assert "systemctl restart holdfast-web.service" in logged
    assert "systemctl restart holdfast-worker.service" in logged
    assert any("http://127.0.0.1:8000/health/ready" in call for call in logged)
    assert f"Done: {current.name} serves" in result.stdout
    logs = list((Path(env["HOLDFAST_ROOT"]) / "logs").glob("deploy-*.log"))
    assert logs and "Done:" in logs[0].read_text()


@pytest.mark.slow
def test_the_holdfast_command_runs_flask_in_the_current_release_with_the_shops_settings(
    first_deploy,
):
    env = first_deploy[0]
    result = deploy_sh("--flask", "holdfast", "verify", "--offline", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "all invariants hold"  # nothing of deploy.sh's own
    flask = f"{env['HOLDFAST_ROOT']}/current/.venv/bin/flask --app wsgi holdfast verify"
    assert f"runuser -u holdfast -- {flask} --offline" in calls(env)


@pytest.mark.slow
def test_a_deploy_that_fails_its_health_check_goes_back_to_the_release_before(failed_deploy):
    env, result, logged, first = failed_deploy
    assert result.returncode != 0
    assert _current(env) == first
    assert _releases(env) == [first.name], "the failed release is left behind"
    assert "FAILED and was rolled back" in result.stderr
    message = " ".join(result.stderr.split())
    assert "forward-only" in message and "restore the backup taken before this deploy" in message
    backups = list((Path(env["HOLDFAST_ROOT"]) / "shared/backups").iterdir())
    assert backups, "no backup before the migration"
    restarts = [c for c in logged if c == "systemctl restart holdfast-web.service"]
    assert len(restarts) == 2  # on the new release, then on the first again
    health = [c for c in logged if c.startswith("curl")]
    assert len(health) == 2


@pytest.mark.slow
def test_clean_keeps_the_newest_releases_and_the_current_one(failed_deploy, tmp_path):
    env, _, _, first = failed_deploy
    releases = Path(env["HOLDFAST_ROOT"]) / "releases"
    made = ["20000101T000000Z-aaaa", "20000102T000000Z-bbbb", "29990101T000000Z-cccc"]
    made += ["29990102T000000Z-dddd"]
    for name in made:
        (releases / name).mkdir()
    cache = Path(env["HOLDFAST_ROOT"]) / "cache/pip"
    cache.mkdir(parents=True)
    result = deploy_sh("--clean", "--keep", "2", env=env)
    assert result.returncode == 0, result.stderr
    assert _releases(env) == sorted([first.name, made[2], made[3]])
    assert not cache.exists()


@pytest.mark.slow
def test_rollback_serves_the_release_before_the_current_one(failed_deploy):
    env, _, _, first = failed_deploy
    older = Path(env["HOLDFAST_ROOT"]) / "releases" / "20000101T000000Z-0ld"
    older.mkdir(exist_ok=True)
    Path(env["HEALTHY"]).write_text(str(older))
    try:
        result = deploy_sh("--rollback", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert _current(env) == older
        assert "systemctl restart holdfast-web.service" in calls(env)
    finally:
        current = Path(env["HOLDFAST_ROOT"]) / "current"
        current.unlink()
        current.symlink_to(first)
        Path(env["HEALTHY"]).write_text(str(first))


@pytest.mark.slow
def test_the_units_pass_systemd_analyze_verify(first_deploy, tmp_path):
    """Rendered as --setup renders them, pointing at a deployed release (verify checks that
    each ExecStart exists)."""
    if not shutil.which("systemd-analyze"):
        assert not IN_CI, "systemd-analyze is missing (scripts/ensure_tools.sh installs it)"
        pytest.skip(reason="systemd-analyze is not installed outside CI (ensure_tools.sh)")
    env = first_deploy[0] | {"SYSTEMD_DIR": str(tmp_path)}
    render = subprocess.run(
        ["bash", "-c", f"source {SCRIPT} && install_units"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert render.returncode == 0, render.stderr
    units = [str(tmp_path / unit) for unit in UNITS]
    result = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    web = (tmp_path / "holdfast-web.service").read_text()
    assert f"ExecStart={env['HOLDFAST_ROOT']}/current/.venv/bin/gunicorn" in web
    assert not re.search(r"__[A-Z_]+__", "".join(Path(u).read_text() for u in units))


# ---------------------------------------------------------------- the settings file


def _rendered_env_file(base: Path) -> dict[str, str]:
    """deploy/holdfast.env.template as --setup writes it (its own function, run for real)."""
    from dotenv import dotenv_values

    group = grp.getgrgid(os.getegid()).gr_name  # the file's group: one this user may give it
    env = _machine(base) | {"HOLDFAST_USER": group, "HOLDFAST_DOMAIN": "shop.example.com"}
    Path(env["HOLDFAST_ETC"]).mkdir()
    script = f"source {SCRIPT} && EMAIL=owner@example.com && setup_env_file"
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    path = Path(env["HOLDFAST_ETC"]) / "holdfast.env"
    assert path.stat().st_mode & 0o777 == 0o640
    return {k: v or "" for k, v in dotenv_values(path).items()}


def test_the_settings_file_it_writes_starts_a_production_shop_once_the_owner_fills_it_in(
    tmp_path,
):
    from app.config import ConfigError, check_startup, load_config

    settings = _rendered_env_file(tmp_path)
    assert settings["HOLDFAST_ENV"] == "production" and len(settings["SECRET_KEY"]) >= 32
    assert settings["SHOP_BASE_URL"] == "https://shop.example.com"
    assert settings["PROMETHEUS_MULTIPROC_DIR"].endswith("/shared/metrics")
    with pytest.raises(ConfigError, match="real payment provider"):  # as written
        check_startup(load_config(str(tmp_path), settings), debug=False)
    filled = settings | {
        "PAYMENT_PROVIDERS": "stripe",
        "STRIPE_SECRET_KEY": "sk_live_" + "x" * 24,
        "STRIPE_WEBHOOK_SECRET": "whsec_" + "y" * 24,
        "MAIL_SERVER": "smtp.example.com",
    }
    check_startup(load_config(str(tmp_path), filled), debug=False)
