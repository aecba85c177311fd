"""nginx/holdfast.conf, for real: the shipped site file (only its placeholders filled, the
certificate a self-signed one made here) passes ``nginx -t``, then serves in front of gunicorn
(bench/stack.py's ``Stack``, production's rules, on Postgres) from a release directory whose
static files ``holdfast build-static`` fingerprinted, as deploy.sh lays one out.

nginx runs unprivileged: a wrapper nginx.conf (temporary pid, logs and temp paths) includes the
site file inside http {}, on 127.0.0.1's high ports. The stack's own rate limits are off (every
request comes from 127.0.0.1), so a 429 here is nginx's. ``flask holdfast verify-production``
passes through nginx and fails against the bare gunicorn.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from app import create_app, static_assets
from app.templating import CONTENT_SECURITY_POLICY
from bench.stack import Stack, free_port
from tests.conftest import IN_CI, PG_URL

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "nginx" / "holdfast.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PLACEHOLDER = re.compile(r"__[A-Z_]+__")

if not Path(NGINX).exists():
    if IN_CI:
        raise RuntimeError("nginx is missing: scripts/ensure_tools.sh installs it")
    NO_NGINX = "nginx is not installed outside CI (scripts/ensure_tools.sh)"
    pytest.skip(reason=NO_NGINX, allow_module_level=True)


@dataclass
class Site:
    dir: Path
    http_port: int
    https_port: int
    cert: Path  # the self-signed certificate, which clients trust as their CA
    upstream: str
    app_dir: Path
    process: subprocess.Popen | None = None
    stack: Stack | None = None

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def render(self) -> Path:
        """The shipped site file with its placeholders filled, and the wrapper around it."""
        text = SITE.read_text()
        for name, value in {
            "DOMAIN": "127.0.0.1",
            "APP_DIR": str(self.app_dir),
            "UPSTREAM": self.upstream,
            "HTTP_PORT": str(self.http_port),
            "HTTPS_PORT": str(self.https_port),
            "CERT_DIR": str(self.cert.parent),
        }.items():
            text = text.replace(f"__{name}__", value)
        assert not PLACEHOLDER.search(text), PLACEHOLDER.findall(text)
        (self.dir / "holdfast.conf").write_text(text)
        (self.dir / "temp").mkdir(exist_ok=True)
        temp = self.dir / "temp"
        # As root (CI's container), workers would run as nobody, who cannot read tmp dirs.
        user = "user root;" if os.geteuid() == 0 else ""
        (self.dir / "nginx.conf").write_text(
            f"""{user}
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log;
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {self.dir}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {self.dir}/holdfast.conf;
}}
"""
        )
        return self.dir / "nginx.conf"

    def command(self, *args: str) -> list[str]:
        conf = self.render()
        return [NGINX, "-p", str(self.dir), "-e", str(self.dir / "error.log"), "-c", str(conf)]

    def check(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.command(), "-t"], capture_output=True, text=True, timeout=30, check=False
        )

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*self.command(), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.error_log()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.https_port), timeout=1),
            ):
                return
            time.sleep(0.1)
        raise RuntimeError(f"nginx did not listen:\n{self.error_log()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)

    def error_log(self) -> str:
        path = self.dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


def self_signed_certificate(directory: Path) -> Path:
    """certbot's layout (fullchain.pem, privkey.pem) with a 30-day certificate for 127.0.0.1."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "30", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(directory / "privkey.pem"), "-out", str(directory / "fullchain.pem")],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return directory / "fullchain.pem"


def make_release(directory: Path) -> Path:
    """What deploy.sh puts in a release: the app, its entry points and migrations, nginx/ (the
    error pages); then ``build-static`` (its function here) fingerprints the static files."""
    directory.mkdir(parents=True)

    def leave_out(folder: str, names: list[str]) -> list[str]:
        built = [n for n in names if static_assets.is_fingerprinted(n)]
        return [*built, *(n for n in names if n in ("__pycache__", static_assets.MANIFEST))]

    shutil.copytree(ROOT / "app", directory / "app", ignore=leave_out)
    for folder in ("nginx", "migrations"):  # /health/ready compares the schema with migrations/
        shutil.copytree(ROOT / folder, directory / folder, ignore=leave_out)
    for entry in ("wsgi.py", "worker.py", "alembic.ini"):
        shutil.copy2(ROOT / entry, directory / entry)
    static_assets.build(directory / "app" / "static")
    return directory


def new_site(directory: Path, upstream: str, app_dir: Path) -> Site:
    cert = self_signed_certificate(directory / "cert")
    return Site(directory, free_port(), free_port(), cert, upstream, app_dir)


# ---------------------------------------------------------------- the file itself


def test_the_shipped_site_file_passes_nginx_t(tmp_path):
    site = new_site(tmp_path, "127.0.0.1:8000", tmp_path / "release")
    result = site.check()
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert "[warn]" not in result.stderr and "[emerg]" not in result.stderr, result.stderr


def test_nginx_sends_the_apps_content_security_policy_on_the_files_it_serves():
    policies = set(re.findall(r'Content-Security-Policy "([^"]+)"', SITE.read_text()))
    assert policies == {CONTENT_SECURITY_POLICY}


# ---------------------------------------------------------------- nginx in front of gunicorn


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("nginx")
    release = make_release(base / "release")
    https_port = free_port()
    stack = Stack(
        database="postgres" if PG_URL else "sqlite",
        pg_base_url=PG_URL or "",
        workers=2,
        threads=2,
        app_dir=release,
        extra_env={
            "TRUSTED_PROXIES": "1",
            "SHOP_BASE_URL": f"https://127.0.0.1:{https_port}",
        },
    )
    with stack:
        site = new_site(base / "nginx", f"127.0.0.1:{stack.port}", release)
        site.https_port = https_port
        site.stack = stack
        site.start()
        try:
            yield site
        finally:
            site.stop()


@pytest.fixture
def browser(site) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the certificate trusted here
    session.verify = str(site.cert)
    return session


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    """An app to run ``flask holdfast verify-production`` in (it needs no database)."""
    folder = tmp_path_factory.mktemp("cli")
    return create_app(
        {"TESTING": True, "DATABASE_URL": f"sqlite:///{folder / 'unused.db'}"}
    ).test_cli_runner()


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)[1]


def fingerprinted_stylesheet(html: str) -> str:
    return re.search(r'href="(/static/css/shop\.[0-9a-f]{12}\.css)"', html)[1]


@pytest.mark.slow
def test_a_page_comes_over_https_with_the_apps_security_headers_once(site, browser):
    page = browser.get(site.https + "/")

    assert page.status_code == 200
    assert "Holdfast" in page.text
    for header in ("Content-Security-Policy", "Strict-Transport-Security", "X-Frame-Options"):
        assert len(page.raw.headers.getlist(header)) == 1, header
    assert page.headers.get("Content-Encoding") is None  # pages are not compressed (BREACH)
    assert page.headers["Server"] == "nginx"  # no version


@pytest.mark.slow
def test_plain_http_is_redirected_to_https_except_certbots_challenges(site, browser):
    moved = browser.get(site.http + "/search?q=mug", allow_redirects=False)
    assert moved.status_code == 301
    assert moved.headers["Location"] == "https://127.0.0.1/search?q=mug"

    challenge = browser.get(site.http + "/.well-known/acme-challenge/token", allow_redirects=False)
    assert challenge.status_code == 404  # answered from certbot's webroot, on plain HTTP


@pytest.mark.slow
def test_the_log_in_form_works_through_the_proxy(site, browser):
    """Flask-WTF's same-origin check over HTTPS needs the scheme and the host (with its port)
    that nginx forwards and ProxyFix applies: a wrong password is a 401, not a CSRF 400."""
    form = browser.get(site.https + "/login")
    answer = browser.post(
        site.https + "/login",
        data={"csrf_token": csrf_token(form.text), "email": "a@example.com", "password": "nope"},
        headers={"Referer": site.https + "/login"},
    )
    assert answer.status_code == 401, answer.text[:500]


@pytest.mark.slow
def test_fingerprinted_static_files_come_from_nginx_cached_for_a_year(site, browser):
    css = fingerprinted_stylesheet(browser.get(site.https + "/").text)
    original = (site.app_dir / "app" / "static" / "css" / "shop.css").read_bytes()

    answer = browser.get(site.https + css, headers={"Accept-Encoding": "gzip"}, stream=True)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert answer.headers["Content-Encoding"] == "gzip"  # nginx's: the app never compresses
    assert gzip.decompress(answer.raw.read()) == original
    assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=31536000" in answer.headers["Strict-Transport-Security"]

    plain = browser.get(site.https + "/static/css/shop.css")
    assert plain.status_code == 200 and plain.headers["Cache-Control"] == "public, max-age=300"
    # gunicorn alone serves the fingerprinted name too (no nginx in front, or nginx behind).
    direct = requests.get(site.stack.base_url + css, timeout=10)
    assert direct.status_code == 200 and "immutable" in direct.headers["Cache-Control"]


@pytest.mark.slow
def test_a_burst_of_log_ins_is_answered_429_by_nginx(site, browser):
    statuses = [browser.post(site.https + "/login", data={}).status_code for _ in range(25)]

    assert statuses[0] == 400  # the app's answer (no CSRF token): the request got through
    assert 429 in statuses, statuses
    limited = browser.post(site.https + "/login", data={})
    assert limited.status_code == 429
    assert "Too many requests" in limited.text and limited.headers["Retry-After"] == "60"
    assert browser.get(site.https + "/login").status_code == 200  # only submissions count


@pytest.mark.slow
def test_metrics_are_refused_through_nginx(site, browser):
    assert browser.get(site.https + "/metrics").status_code == 403
    assert browser.get(site.https + "/metrics/anything").status_code == 403


@pytest.mark.slow
def test_verify_production_passes_through_nginx(site, cli):
    result = cli.invoke(
        args=["holdfast", "verify-production", site.https, "--ca-file", str(site.cert),
              "--http-url", site.http, "--timeout", "10"],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    rows = [line.split()[:2] for line in result.output.splitlines()[1:-1]]
    assert rows == [
        [name, "PASS"]
        for name in ("health", "tls", "https-redirect", "security-headers", "webhooks",
                     "static-caching", "metrics")
    ], result.output  # fmt: skip
    assert "days left" in result.output


@pytest.mark.slow
def test_verify_production_fails_against_the_bare_gunicorn(site, cli):
    result = cli.invoke(args=["holdfast", "verify-production", site.stack.base_url])

    assert result.exit_code == 1, result.output
    failed = re.search(r"FAILED: (.*)", result.output)[1].split(", ")
    assert {"tls", "https-redirect"} <= set(failed), result.output
    assert "health" not in failed
