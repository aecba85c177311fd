"""A deploy restarts gunicorn without refusing or dropping a shopper's request.

deploy/holdfast-web.socket hands gunicorn a listening socket that systemd keeps open, and a
deploy runs ``systemctl restart holdfast-web``: SIGTERM to the old gunicorn (it finishes what it
has), then the new release's gunicorn, which takes the same socket over (LISTEN_FDS). Here this
test plays systemd: it holds the socket, starts gunicorn with ``-c gunicorn.conf.py`` on it the
way systemd does, and restarts it while shoppers keep loading pages. Every request succeeds,
including those sent while no gunicorn was running at all: they waited in the socket's backlog.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field

import pytest

from bench.stack import ROOT, VENV_BIN, Stack

pytestmark = pytest.mark.slow
SHOPPERS = 6


@dataclass
class Shoppers:
    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    results: list[tuple[float, float, object]] = field(default_factory=list)  # sent, done, status

    def browse(self) -> None:
        while not self.stop.is_set():
            sent = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=30) as response:  # noqa: S310
                    outcome: object = response.status
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                outcome = repr(exc)
            self.results.append((sent, time.monotonic(), outcome))

    def failures(self) -> list[object]:
        return [outcome for _, _, outcome in self.results if outcome != 200]


def start_gunicorn(stack: Stack, listener: socket.socket) -> subprocess.Popen:
    """gunicorn as systemd starts it: the socket as fd 3, LISTEN_FDS=1, LISTEN_PID its own."""
    fd = listener.fileno()
    script = f'exec 3<&{fd}; LISTEN_FDS=1 LISTEN_PID=$$ exec "$0" "$@"'
    return subprocess.Popen(
        ["bash", "-c", script, str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=stack.env | {"WEB_CONCURRENCY": "2", "HOLDFAST_THREADS": "2", "LOG_LEVEL": "WARNING"},
        pass_fds=(fd,),
        stdout=subprocess.DEVNULL,
        stderr=open(stack.dir / "gunicorn.log", "ab"),  # noqa: SIM115 - closed with the process
        start_new_session=True,
    )


def wait_until_served(url: str, process: subprocess.Popen, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return time.monotonic()
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gunicorn never answered")


def test_a_restart_on_the_held_socket_answers_every_request(tmp_path):
    stack = Stack(database="sqlite")
    stack.prepare_database()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    port = listener.getsockname()[1]
    shoppers = Shoppers(f"http://127.0.0.1:{port}/")
    old = start_gunicorn(stack, listener)
    new = None
    threads = [threading.Thread(target=shoppers.browse) for _ in range(SHOPPERS)]
    try:
        wait_until_served(shoppers.url, old)
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        os.killpg(old.pid, signal.SIGTERM)  # systemctl restart: stop (KillMode=mixed) ...
        old.wait(timeout=60)
        old_gone = time.monotonic()
        new = start_gunicorn(stack, listener)  # ... then start the new release
        new_ready = wait_until_served(f"http://127.0.0.1:{port}/health/live", new)
        time.sleep(1.5)
    finally:
        shoppers.stop.set()
        for thread in threads:
            if thread.is_alive():
                thread.join(timeout=60)
        for process in (old, new):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)
        listener.close()
    assert shoppers.failures() == [], stack.log("gunicorn")[-3000:]
    in_the_gap = [r for r in shoppers.results if old_gone <= r[0] < new_ready]
    assert in_the_gap, "no request was sent while no gunicorn ran"
    assert any(sent < old_gone - 0.5 for sent, _, _ in shoppers.results)
    assert any(done > new_ready for _, done, _ in shoppers.results)
