"""`make run` on a fresh, empty database file serves the demo shop, as a newcomer runs it."""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        return response.status, response.read().decode()


def test_make_run_serves_the_demo_shop_on_an_empty_sqlite_file(tmp_path):
    db_file = tmp_path / "x" / "shop.db"
    db_file.parent.mkdir()
    db_file.touch()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CI"}}
    proc = subprocess.Popen(
        ["make", "run", f"PORT={port}", f"DATABASE_URL=sqlite:///{db_file}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                status, body = _get(f"http://127.0.0.1:{port}/health")
                break
            except OSError:
                assert time.monotonic() < deadline, "make run did not come up in 120 s"
                time.sleep(0.3)
        assert status == 200 and '"healthy"' in body
        status, home = _get(f"http://127.0.0.1:{port}/")
        assert status == 200
        assert "Featured" in home and "card-name" in home
        status, js = _get(f"http://127.0.0.1:{port}/static/vendor/htmx.min.js")
        assert status == 200 and "htmx" in js
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
